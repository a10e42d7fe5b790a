"""Red-team documents for the prompt-injection benchmark (built in memory by ``corpus.build_attacks``)."""
