"""A miniflux-shaped database: the runbook's data set and a scalable generator for the benchmark.

The schema follows miniflux 2's PostgreSQL tables and column names (users, categories, feeds, entries,
enclosures, icons, feed_icons, schema_version) with their foreign keys, the ``entry_status`` enum, the
``document_vectors`` tsvector with its GIN index and the unique keys miniflux relies on. It is written
from scratch for pg-dr (a subset of columns), not copied from miniflux.

* :func:`create_schema` + :func:`seed_runbook` give exactly the runbook's 2 users, 2 feeds, 44 entries
  (and the rows those need: 2 categories, enclosures, icons), deterministic, so contents can be
  fingerprinted before and after a restore.
* :func:`generate` fills a database to about ``target_mb`` of data with realistic, compressible text
  (HTML paragraphs of English-like words), for ``bench/rto.py``.
"""

from __future__ import annotations

from tests.support.postgres import PostgresServer

SCHEMA_VERSION = "108"

SCHEMA = """
CREATE TYPE entry_status AS ENUM ('unread', 'read', 'removed');
CREATE TYPE entry_sorting_direction AS ENUM ('asc', 'desc');

CREATE TABLE schema_version (version text NOT NULL);

CREATE TABLE users (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    password text,
    is_admin boolean NOT NULL DEFAULT false,
    language text NOT NULL DEFAULT 'en_US',
    timezone text NOT NULL DEFAULT 'UTC',
    theme text NOT NULL DEFAULT 'light_serif',
    entry_direction entry_sorting_direction NOT NULL DEFAULT 'asc',
    entries_per_page int NOT NULL DEFAULT 100,
    keyboard_shortcuts boolean NOT NULL DEFAULT true,
    last_login_at timestamptz
);

CREATE TABLE categories (
    id serial PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    hide_globally boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, title)
);

CREATE TABLE feeds (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category_id int NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    title text NOT NULL,
    feed_url text NOT NULL,
    site_url text NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now(),
    next_check_at timestamptz NOT NULL DEFAULT now(),
    etag_header text NOT NULL DEFAULT '',
    last_modified_header text NOT NULL DEFAULT '',
    parsing_error_msg text NOT NULL DEFAULT '',
    parsing_error_count int NOT NULL DEFAULT 0,
    scraper_rules text NOT NULL DEFAULT '',
    rewrite_rules text NOT NULL DEFAULT '',
    crawler boolean NOT NULL DEFAULT false,
    user_agent text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, feed_url)
);
CREATE INDEX feeds_user_category_idx ON feeds (user_id, category_id);

CREATE TABLE entries (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    hash text NOT NULL,
    published_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    changed_at timestamptz NOT NULL DEFAULT now(),
    title text NOT NULL,
    url text NOT NULL,
    comments_url text NOT NULL DEFAULT '',
    author text,
    content text,
    status entry_status NOT NULL DEFAULT 'unread',
    starred boolean NOT NULL DEFAULT false,
    share_code text NOT NULL DEFAULT '',
    reading_time int NOT NULL DEFAULT 0,
    tags text[] NOT NULL DEFAULT '{}',
    document_vectors tsvector,
    UNIQUE (feed_id, hash)
);
CREATE INDEX entries_feed_idx ON entries (feed_id);
CREATE INDEX entries_user_status_idx ON entries (user_id, status);
CREATE INDEX entries_user_feed_idx ON entries (user_id, feed_id);
CREATE INDEX entries_published_at_idx ON entries (published_at);
CREATE UNIQUE INDEX entries_share_code_idx ON entries (share_code) WHERE share_code <> '';
CREATE INDEX document_vectors_idx ON entries USING gin (document_vectors);

CREATE TABLE enclosures (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entry_id bigint NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    url text NOT NULL,
    size bigint NOT NULL DEFAULT 0,
    mime_type text NOT NULL DEFAULT '',
    media_progression int NOT NULL DEFAULT 0
);
CREATE INDEX enclosures_entry_id_idx ON enclosures (entry_id);

CREATE TABLE icons (
    id bigserial PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    mime_type text NOT NULL,
    content bytea NOT NULL
);

CREATE TABLE feed_icons (
    feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    icon_id bigint NOT NULL REFERENCES icons (id) ON DELETE CASCADE,
    PRIMARY KEY (feed_id, icon_id)
);
"""

# miniflux computes this in its entry storage code; the same expression keeps the index realistic.
_VECTORS = (
    "setweight(to_tsvector(left(coalesce(title, ''), 500000)), 'A') || "
    "setweight(to_tsvector(left(coalesce(content, ''), 500000)), 'B')"
)

SEED = f"""
INSERT INTO schema_version VALUES ('{SCHEMA_VERSION}');
INSERT INTO users (id, username, password, is_admin, last_login_at) VALUES
    (1, 'erichblume', '$2a$10$examplehashexamplehashexamplehashexamplehashexampleha', true,
     '2026-01-18 21:04:00+00'),
    (2, 'reader', '$2a$10$anotherhashanotherhashanotherhashanotherhashanotherha', false, NULL);
INSERT INTO categories (id, user_id, title) VALUES (1, 1, 'All'), (2, 2, 'All');
INSERT INTO feeds (id, user_id, category_id, title, feed_url, site_url, checked_at, next_check_at) VALUES
    (1, 1, 1, 'PostgreSQL News', 'https://news.example.org/rss.xml', 'https://news.example.org/',
     '2026-01-19 02:00:00+00', '2026-01-19 03:00:00+00'),
    (2, 2, 2, 'Homelab Weekly', 'https://homelab.example.net/feed.atom', 'https://homelab.example.net/',
     '2026-01-19 02:00:00+00', '2026-01-19 03:00:00+00');
INSERT INTO entries (user_id, feed_id, hash, published_at, created_at, changed_at, title, url, author,
                     content, status, starred, reading_time, tags)
SELECT f.user_id, f.id, md5(f.id || ':' || n),
       timestamptz '2026-01-01 08:00:00+00' + n * interval '7 hours',
       timestamptz '2026-01-01 08:05:00+00' + n * interval '7 hours',
       timestamptz '2026-01-01 08:05:00+00' + n * interval '7 hours',
       f.title || ' #' || n, f.site_url || 'posts/' || n, 'author ' || (n % 3),
       '<p>Entry ' || n || ' of ' || f.title || ': backups, restores and the drills that prove them.</p>',
       (CASE WHEN n % 3 = 0 THEN 'read' ELSE 'unread' END)::entry_status, n % 10 = 0, 1 + n % 4,
       ARRAY['dr', 'postgres']
FROM feeds f, generate_series(1, 22) AS n
ORDER BY f.id, n;
UPDATE entries SET document_vectors = {_VECTORS};
INSERT INTO enclosures (user_id, entry_id, url, size, mime_type)
SELECT user_id, id, url || '/episode.mp3', 1000000 + id, 'audio/mpeg' FROM entries WHERE id % 11 = 0;
INSERT INTO icons (id, hash, mime_type, content) VALUES
    (1, md5('icon-1'), 'image/png', decode('89504e470d0a1a0a0000000d49484452', 'hex')),
    (2, md5('icon-2'), 'image/x-icon', decode('00000100010010100000010020006804', 'hex'));
INSERT INTO feed_icons VALUES (1, 1), (2, 2);
SELECT setval(pg_get_serial_sequence('users', 'id'), 2);
SELECT setval(pg_get_serial_sequence('categories', 'id'), 2);
SELECT setval(pg_get_serial_sequence('feeds', 'id'), 2);
SELECT setval(pg_get_serial_sequence('icons', 'id'), 2);
"""

# Row counts of the runbook's data set, keyed like PostgresServer.row_counts().
RUNBOOK_COUNTS = {
    "public.categories": 2,
    "public.enclosures": 4,
    "public.entries": 44,
    "public.feed_icons": 2,
    "public.feeds": 2,
    "public.icons": 2,
    "public.schema_version": 1,
    "public.users": 2,
}


def create_schema(pg: PostgresServer, db: str) -> None:
    pg.sql(SCHEMA, db=db)


def seed_runbook(pg: PostgresServer, db: str) -> None:
    """Schema + the runbook's data set: 2 users, 2 feeds, 44 entries (see :data:`RUNBOOK_COUNTS`)."""
    create_schema(pg, db)
    pg.sql(SEED, db=db)


def create_runbook_database(pg: PostgresServer, db: str = "miniflux", *, owner: str = "miniflux") -> None:
    """The brew server's ``miniflux`` database as the runbook had it: owned by (and filled as) ``owner``."""
    if not pg.scalar(f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'"):
        pg.create_role(owner, login=False)
    pg.create_database(db, owner=owner)
    pg.sql(f'SET ROLE "{owner}";\n' + SCHEMA + SEED, db=db)


# ------------------------------------------------------------------------------------- benchmark
_WORDS_TEXT = """
the of and to in is that for it as with was on be by at this from or have an are not but which all
were when we there can been has more if no out so said what up its about into than them only other
new some could time these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should because each
just those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year off
come since against go came right used take three backup restore archive borg borgmatic postgres
database replica cluster kubernetes tailscale snapshot recovery objective point vacuum index query
table column schema role password secret homelab migration operator volume storage network latency
"""
_WORDS = _WORDS_TEXT.split()

_GENERATOR = """
CREATE TEMP TABLE words AS SELECT array_agg(w) AS w FROM unnest(%(words)s::text[]) AS w;
CREATE TEMP TABLE paragraphs AS
SELECT p AS id,
       '<p>' || (SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int], ' ')
                 FROM words, generate_series(1, 40 + (p * 7919) %% 80) g WHERE p > 0) || '.</p>' AS body
FROM generate_series(1, %(paragraphs)s) AS p;
INSERT INTO users (username, password, is_admin)
SELECT 'user' || u, md5('pw' || u), u = 1 FROM generate_series(1, %(users)s) u;
INSERT INTO categories (user_id, title)
SELECT u.id, c FROM users u, unnest(ARRAY['News', 'Tech', 'Ops', 'Misc']) c;
INSERT INTO feeds (user_id, category_id, title, feed_url, site_url, etag_header)
SELECT c.user_id, c.id, c.title || ' feed ' || n, 'https://f' || c.id || '-' || n || '.example.org/rss',
       'https://f' || c.id || '-' || n || '.example.org/', md5(c.id || '-' || n)
FROM categories c, generate_series(1, %(feeds_per_category)s) n;
"""

_ENTRY_BATCH = """
INSERT INTO entries (user_id, feed_id, hash, published_at, changed_at, title, url, author, content, status,
                     starred, reading_time, tags, document_vectors)
SELECT *, %(vectors)s FROM (
  SELECT f.user_id, f.id, md5(f.id || ':' || g), now() - (%(entries)s - g) * interval '37 minutes', now(),
         'Entry ' || g || ' about ' || (SELECT body FROM paragraphs WHERE id = 1 + (g * 31) %% %(paragraphs)s),
         'https://example.org/' || f.id || '/' || g, 'author ' || (g %% 17),
         (SELECT string_agg(body, E'\\n') FROM paragraphs
           WHERE id IN (1 + (g * 7) %% %(paragraphs)s, 1 + (g * 13 + 5) %% %(paragraphs)s,
                        1 + (g * 17 + 9) %% %(paragraphs)s, 1 + (g * 29 + 3) %% %(paragraphs)s,
                        1 + (g * 41 + 1) %% %(paragraphs)s, 1 + (g * 43 + 7) %% %(paragraphs)s)),
         (ARRAY['unread', 'read', 'read', 'removed'])[1 + g %% 4]::entry_status, g %% 50 = 0, 1 + g %% 9,
         ARRAY['t' || (g %% 5), 't' || (g %% 7)]
  FROM generate_series(%(first)s, %(last)s) g
  JOIN feeds f ON f.id = 1 + g %% %(feeds)s
) AS s (user_id, feed_id, hash, published_at, changed_at, title, url, author, content, status, starred,
        reading_time, tags);
"""


def generate(
    pg: PostgresServer, db: str, *, entries: int, users: int = 5, feeds_per_category: int = 10, batch: int = 20000
) -> dict[str, int]:
    """Fill ``db`` (with :func:`create_schema` applied) with ``entries`` entries; returns row counts.

    About 4.4 kB per entry with ``document_vectors`` and indexes: ``entries=112000`` gives ~500 MB.
    """
    paragraphs = 4000
    words = "ARRAY[" + ",".join(f"'{w}'" for w in _WORDS) + "]"
    pg.sql(
        _GENERATOR
        % {"words": words, "paragraphs": paragraphs, "users": users, "feeds_per_category": feeds_per_category}
        + "".join(
            _ENTRY_BATCH
            % {
                "first": first,
                "last": min(first + batch - 1, entries),
                "paragraphs": paragraphs,
                "feeds": users * 4 * feeds_per_category,
                "vectors": _VECTORS,
                "entries": entries,
            }
            for first in range(1, entries + 1, batch)
        )
        + "INSERT INTO enclosures (user_id, entry_id, url, size, mime_type)\n"
        + "SELECT user_id, id, url || '/a.mp3', id * 1000, 'audio/mpeg' FROM entries WHERE id % 20 = 0;\n"
        + f"INSERT INTO schema_version VALUES ('{SCHEMA_VERSION}');\n"
        + "VACUUM ANALYZE;\n",
        db=db,
    )
    return pg.row_counts(db)


# A day of miniflux activity, for the benchmark's second (incremental) backup: 1% new entries and the
# newest 2% of entries read/unread (readers touch recent entries; ids grow with published_at).
_RECENT = "hash NOT LIKE '%-new' AND id > (SELECT 0.98 * max(id) FROM entries WHERE hash NOT LIKE '%-new')"
_FLIP = "status = CASE status WHEN 'read' THEN 'unread' WHEN 'unread' THEN 'read' ELSE status END"
CHURN = f"""
UPDATE entries SET {_FLIP}, changed_at = now() WHERE {_RECENT};
INSERT INTO entries (user_id, feed_id, hash, published_at, title, url, author, content, status, tags, document_vectors)
SELECT user_id, feed_id, hash || '-new', now(), title, url || '?new', author, content, 'unread', tags, document_vectors
FROM entries WHERE id % 100 = 0;
"""
# Undo CHURN's row counts and statuses (the status flip is its own inverse).
UNDO_CHURN = f"""
DELETE FROM entries WHERE hash LIKE '%-new';
UPDATE entries SET {_FLIP} WHERE {_RECENT};
VACUUM entries;
"""
