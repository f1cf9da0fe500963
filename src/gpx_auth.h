/* gpx_auth.h - HTTP basic auth for the metrics endpoint: the password file
 * and the check of each scrape's credentials.
 *
 * The file has the htpasswd format that `htpasswd -B` writes and that the
 * Prometheus exporters' web config takes under basic_auth_users: one
 * `user:hash` per line, the hash bcrypt ($2y$, $2b$ or $2a$). Plain-text or
 * other hashes are refused when the file is read, at start-up in the master.
 * The metrics thread checks credentials with libcrypt; bcrypt costs tens of
 * milliseconds by design, so the credentials of a successful check are
 * remembered (as an HMAC under a key drawn at start, never in clear) and the
 * next scrape with the same credentials is answered without bcrypt.
 */
#ifndef GPX_AUTH_H
#define GPX_AUTH_H

#include <pthread.h>
#include <stddef.h>

#define GPX_AUTH_NAME_MAX 256       /* user name bytes, NUL included */
#define GPX_AUTH_HASH_LEN 60        /* a bcrypt hash: $2y$NN$ + 53 characters */
#define GPX_AUTH_USERS_MAX 1024     /* lines with a user in one file */
#define GPX_AUTH_FILE_MAX (1 << 20) /* bytes read from the file */
#define GPX_AUTH_PASSWORD_MAX 1024  /* longer passwords are refused without bcrypt */
#define GPX_AUTH_CACHE_SLOTS 16     /* credentials remembered after a success */
#define GPX_AUTH_DIGEST_LEN 32      /* HMAC-SHA-256 */

struct gpx_auth_user {
    char name[GPX_AUTH_NAME_MAX]; /* zero-padded: compared in full, in constant time */
    char hash[GPX_AUTH_HASH_LEN + 1];
};

struct gpx_auth {
    struct gpx_auth_user *users;
    unsigned count;
    pthread_mutex_t lock; /* guards what follows: the cache and libcrypt's scratch */
    unsigned char key[GPX_AUTH_DIGEST_LEN];
    unsigned char cache[GPX_AUTH_CACHE_SLOTS][GPX_AUTH_DIGEST_LEN];
    unsigned char cache_used[GPX_AUTH_CACHE_SLOTS];
    unsigned cache_next;
    void *crypt_scratch;       /* struct crypt_data, 32 KiB: on the heap */
    unsigned long bcrypt_runs; /* checks that needed bcrypt, for tests and debugging */
};

/* Reads the password file's text (`len` bytes, not NUL-terminated) into
 * auth. Blank lines and lines starting with '#' are skipped; CRLF endings
 * are accepted. Returns 0, or -1 with why (e.g. "line 3: the hash is not
 * bcrypt ...") set and auth left empty. Never prints a hash. */
int gpx_auth_parse(struct gpx_auth *auth, const char *text, size_t len, char *why, size_t whylen);

/* Reads the file at path (at most GPX_AUTH_FILE_MAX bytes) with
 * gpx_auth_parse, then checks that this libcrypt computes each hash's
 * variant. Returns 0, or -1 with why set. */
int gpx_auth_load(struct gpx_auth *auth, const char *path, char *why, size_t whylen);

/* 1 when user and password match a line of the file, 0 otherwise. Takes
 * the same time whether or not the user exists (a bcrypt runs either way)
 * unless the credentials were accepted before. Any thread. */
int gpx_auth_check(struct gpx_auth *auth, const char *user, const char *password);

/* Frees what parse or load allocated. Safe on a zeroed or freed auth. */
void gpx_auth_free(struct gpx_auth *auth);

#endif
