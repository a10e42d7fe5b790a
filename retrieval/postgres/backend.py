"""The PostgreSQL back end: documents, chunks and embeddings in one database, searched there too.

- dense: pgvector's HNSW index on inner product (``<#>``), with the tenant and collection filters in
  the same query and iterative scans (``hnsw.iterative_scan = relaxed_order``), so a selective filter
  still fills k; should the scan stop early (``hnsw.max_scan_tuples``), an exact scan answers instead.
- keyword: PostgreSQL full-text search (English stemming and stopwords), any query term matching, as
  the embedded BM25 does, ranked by ``ts_rank`` with length normalisation.

Nothing is cached in the process: every call reads the database, so an ingest or delete through one
replica is visible through every other as soon as it has committed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from retrieval.backend import Encode, NewDocument
from retrieval.errors import DocumentNotFoundError
from retrieval.postgres.database import Database
from retrieval.types import Chunk, Document, IngestResult, SearchHit

_DOC_COLUMNS = "id, tenant, collection, source, sha256, metadata, created_at, chunk_count, char_count"
_HIT_COLUMNS = 'c.id, c.document_id, c.tenant, c.collection, d.source, c.text, c.start, c."end", c.page'

# The query's lexemes joined by OR ('a' | 'b'), quoted for the tsquery parser. NULL when none are left.
_ANY_TERM = (
    "(SELECT string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''', ' | ')"
    " FROM unnest(to_tsvector('english', %(query)s)))::tsquery"
)


def _document(row: Sequence[Any]) -> Document:
    return Document.from_row(row, dict(row[5]))


def _hit(row: Sequence[Any], score: float) -> SearchHit:
    return SearchHit(chunk=Chunk.from_row(row), score=score)


class PostgresBackend:
    """``SearchBackend`` over PostgreSQL + pgvector. Stateless: safe to run in many replicas at once."""

    name = "postgres"

    def __init__(self, database: Database, *, hnsw_ef_search: int = 64, wait_s: float = 60.0) -> None:
        self.db = database
        self.hnsw_ef_search = hnsw_ef_search
        self.wait_s = wait_s

    # --- lifecycle -------------------------------------------------------------------------------

    def load(self, model_name: str, dimension: int, encode: Encode) -> None:
        """Migrate (under the advisory lock), bind the embedding column to the model, open the pool.

        A refusal (another embedding model, a newer schema) leaves no pool behind.
        """
        self.db.open(wait_s=self.wait_s)
        try:
            self.db.bind_embeddings(model_name, dimension)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def ping(self) -> None:
        self.db.ping()

    # --- writes ----------------------------------------------------------------------------------

    def add_document(self, new: NewDocument) -> IngestResult:
        metadata = json.loads(json.dumps(new.metadata, sort_keys=True, default=str))
        created = time.time()
        with self.db.connection() as conn:
            inserted = conn.execute(
                f"INSERT INTO documents ({_DOC_COLUMNS}, text) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT ON CONSTRAINT documents_same_bytes DO NOTHING RETURNING id",
                (
                    new.document_id,
                    new.tenant,
                    new.collection,
                    new.source,
                    new.sha256,
                    Jsonb(metadata),
                    created,
                    len(new.spans),
                    len(new.text),
                    new.text,
                ),
            ).fetchone()
            if inserted is None:
                # Another request stored these bytes first; its row is committed (the insert waited for it).
                row = conn.execute(
                    f"SELECT {_DOC_COLUMNS} FROM documents WHERE tenant = %s AND collection = %s AND sha256 = %s",
                    (new.tenant, new.collection, new.sha256),
                ).fetchone()
                if row is not None:
                    return IngestResult(document=_document(row), deduplicated=True)
                raise RuntimeError("a duplicate document vanished while being read; retry the request")
            with conn.cursor().copy(
                'COPY chunks (document_id, tenant, collection, text, start, "end", page, embedding) '
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "text", "text", "text", "int4", "int4", "int4", "vector"])
                for span, vector in zip(new.spans, new.vectors, strict=True):
                    copy.write_row(
                        (
                            new.document_id,
                            new.tenant,
                            new.collection,
                            span.text,
                            span.start,
                            span.end,
                            span.page,
                            np.asarray(vector, dtype=np.float32),
                        )
                    )
        # The block above has committed: only now is the document acknowledged.
        doc = Document(
            id=new.document_id,
            tenant=new.tenant,
            collection=new.collection,
            source=new.source,
            sha256=new.sha256,
            metadata=metadata,
            created_at=created,
            chunk_count=len(new.spans),
            char_count=len(new.text),
        )
        return IngestResult(document=doc, deduplicated=False)

    def delete_document(self, tenant: str, document_id: str) -> None:
        with self.db.connection() as conn:
            cur = conn.execute("DELETE FROM documents WHERE id = %s AND tenant = %s", (document_id, tenant))
            if cur.rowcount == 0:
                raise DocumentNotFoundError(f"document {document_id!r} not found")

    # --- reads -----------------------------------------------------------------------------------

    def find_by_sha256(self, tenant: str, collection: str, sha256: str) -> Document | None:
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE tenant = %s AND collection = %s AND sha256 = %s",
                (tenant, collection, sha256),
            ).fetchone()
        return _document(row) if row else None

    def get_document(self, tenant: str, document_id: str) -> Document:
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = %s AND tenant = %s", (document_id, tenant)
            ).fetchone()
        if row is None:
            raise DocumentNotFoundError(f"document {document_id!r} not found")
        return _document(row)

    def document_text(self, tenant: str, document_id: str) -> str:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT text FROM documents WHERE id = %s AND tenant = %s", (document_id, tenant)
            ).fetchone()
        if row is None:
            raise DocumentNotFoundError(f"document {document_id!r} not found")
        return str(row[0])

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        where, params = "tenant = %s", [tenant]
        if collection is not None:
            where += " AND collection = %s"
            params.append(collection)
        with self.db.connection() as conn:
            count = conn.execute(f"SELECT count(*) FROM documents WHERE {where}", params).fetchone()
            rows = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE {where} "
                "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                [*params, max(0, limit), max(0, offset)],
            ).fetchall()
        return [_document(r) for r in rows], int(count[0]) if count else 0

    # --- search ----------------------------------------------------------------------------------

    def dense_search(self, tenant: str, vector: np.ndarray, k: int, collection: str | None) -> list[SearchHit]:
        if k <= 0:
            return []
        params: dict[str, Any] = {
            "tenant": tenant,
            "collection": collection,
            "k": k,
            "vector": np.asarray(vector, dtype=np.float32).reshape(-1),
        }
        where = "c.tenant = %(tenant)s" + (" AND c.collection = %(collection)s" if collection is not None else "")
        # relaxed_order may return the k rows slightly out of order: the outer query sorts them.
        sql = (
            "WITH nearest AS MATERIALIZED ("
            f" SELECT c.id, c.embedding <#> %(vector)s AS distance FROM chunks c WHERE {where}"
            " ORDER BY distance LIMIT %(k)s)"
            f" SELECT {_HIT_COLUMNS}, n.distance FROM nearest n"
            " JOIN chunks c ON c.id = n.id JOIN documents d ON d.id = c.document_id"
            " ORDER BY n.distance, c.id"
        )
        with self.db.connection() as conn:
            conn.execute(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('hnsw.ef_search', %s, true)",
                (str(max(self.hnsw_ef_search, min(k, 1000))),),
            )
            rows = conn.execute(sql, params).fetchall()
            if len(rows) < k:
                # The scan may stop at hnsw.max_scan_tuples under a very selective filter: an exact scan
                # tells "fewer than k exist" from "the index gave up".
                conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
                rows = conn.execute(sql, params).fetchall()
        return [_hit(r, -float(r[9])) for r in rows]

    def keyword_search(self, tenant: str, query: str, k: int, collection: str | None) -> list[SearchHit]:
        if k <= 0 or not query.strip():
            return []
        where = "c.tenant = %(tenant)s" + (" AND c.collection = %(collection)s" if collection is not None else "")
        sql = (
            f"WITH q AS (SELECT {_ANY_TERM} AS query)"
            f" SELECT {_HIT_COLUMNS}, ts_rank(c.tsv, q.query, 1) AS score"
            " FROM q, chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE {where} AND c.tsv @@ q.query"
            " ORDER BY score DESC, c.id LIMIT %(k)s"
        )
        with self.db.connection() as conn:
            rows = conn.execute(sql, {"tenant": tenant, "collection": collection, "k": k, "query": query}).fetchall()
        return [_hit(r, float(r[9])) for r in rows]

    # --- stats -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        tenants: dict[str, dict[str, Any]] = {}
        with self.db.connection() as conn:
            for tenant, n in conn.execute("SELECT tenant, count(*) FROM documents GROUP BY tenant"):
                tenants.setdefault(tenant, {"documents": 0, "chunks": 0})["documents"] = int(n)
            for tenant, n in conn.execute("SELECT tenant, count(*) FROM chunks GROUP BY tenant"):
                tenants.setdefault(tenant, {"documents": 0, "chunks": 0})["chunks"] = int(n)
        for t in tenants.values():
            t["vectors"] = t["chunks"]
            t["index_kind"] = "hnsw"
        chunks = sum(t["chunks"] for t in tenants.values())
        return {
            "backend": self.name,
            "documents": sum(t["documents"] for t in tenants.values()),
            "chunks": chunks,
            "vector_index": {"setting": "pgvector-hnsw", "kinds": ["hnsw"] if chunks else [], "size": chunks},
            "tenants": dict(sorted(tenants.items())),
        }
