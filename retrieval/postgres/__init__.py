"""PostgreSQL + pgvector: one database shared by any number of stateless API replicas."""
