-- Documents, chunks (embedding and full-text vector), API keys, answers and feedback.
-- The embedding column gets its dimension, and its HNSW index, when the first replica starts with an
-- embedding model (see Database.bind_embeddings): the model is configuration, not schema.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    collection text NOT NULL,
    source text NOT NULL,
    sha256 text NOT NULL,
    metadata jsonb NOT NULL,
    text text NOT NULL,
    char_count integer NOT NULL,
    chunk_count integer NOT NULL,
    created_at double precision NOT NULL,
    -- Two replicas storing the same bytes in one collection at once: the second insert does nothing.
    CONSTRAINT documents_same_bytes UNIQUE (tenant, collection, sha256)
);
CREATE INDEX documents_by_tenant ON documents (tenant, collection, created_at DESC, id DESC);

CREATE TABLE chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    tenant text NOT NULL,
    collection text NOT NULL,
    text text NOT NULL,
    start integer NOT NULL,
    "end" integer NOT NULL,
    page integer,
    embedding vector NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX chunks_by_document ON chunks (document_id);
CREATE INDEX chunks_by_tenant ON chunks (tenant, collection);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);

CREATE TABLE meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    key_hash text NOT NULL UNIQUE,
    tenant text NOT NULL,
    created_at double precision NOT NULL,
    revoked boolean NOT NULL DEFAULT false
);

CREATE TABLE answers (
    answer_id text PRIMARY KEY,
    tenant text NOT NULL,
    collection text NOT NULL,
    question text NOT NULL,
    answer text NOT NULL,
    detail text NOT NULL,
    tone text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX answers_by_collection ON answers (tenant, collection);

CREATE TABLE feedback (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    answer_id text NOT NULL REFERENCES answers (answer_id),
    tenant text NOT NULL,
    rating integer NOT NULL CHECK (rating IN (-1, 1)),
    comment text,
    preferred_detail text,
    created_at double precision NOT NULL
);
CREATE INDEX feedback_by_answer ON feedback (answer_id);
