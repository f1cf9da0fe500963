/* gpx_auth.c - the password file and the credentials check (see gpx_auth.h). */
#define _GNU_SOURCE
#include "gpx_auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpx_file.h"

/* bcrypt's alphabet for salt and digest. */
static int
is_bcrypt_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

/* A bcrypt hash as htpasswd -B, Go's x/crypto/bcrypt and libxcrypt write
 * it: "$2" + variant + "$" + two-digit cost 04..31 + "$" + 53 characters. */
static int
is_bcrypt(const char *hash, size_t len)
{
    size_t i;
    int cost;

    if (len != GPX_AUTH_HASH_LEN || hash[0] != '$' || hash[1] != '2' ||
        (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$' || hash[4] < '0' || hash[4] > '9' ||
        hash[5] < '0' || hash[5] > '9' || hash[6] != '$') {
        return 0;
    }
    cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    if (cost < 4 || cost > 31) {
        return 0;
    }
    for (i = 7; i < len; i++) {
        if (!is_bcrypt_char(hash[i])) {
            return 0;
        }
    }
    return 1;
}

/* What a refused hash looks like, without showing the hash itself. */
static const char *
hash_kind(const char *hash, size_t len)
{
    if (len >= 3 && hash[0] == '$' && hash[1] == '2') {
        return "a malformed bcrypt hash";
    }
    if (len >= 6 && memcmp(hash, "$apr1$", 6) == 0) {
        return "an Apache MD5 hash (htpasswd -m)";
    }
    if (len >= 5 && memcmp(hash, "{SHA}", 5) == 0) {
        return "a SHA-1 hash (htpasswd -s)";
    }
    if (len >= 3 && hash[0] == '$') {
        return "a hash of another scheme";
    }
    return "not a hash (plain text or crypt DES)";
}

static int
ct_equal(const unsigned char *a, const unsigned char *b, size_t len)
{
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        diff |= a[i] ^ b[i];
    }
    return diff == 0;
}

void
gpx_auth_free(struct gpx_auth *auth)
{
    if (auth->users != NULL || auth->crypt_scratch != NULL) {
        pthread_mutex_destroy(&auth->lock);
    }
    if (auth->users != NULL) {
        gnutls_memset(auth->users, 0, sizeof(*auth->users) * auth->count);
    }
    free(auth->users);
    free(auth->crypt_scratch);
    memset(auth, 0, sizeof(*auth));
}

static int fail(struct gpx_auth *auth, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct gpx_auth *auth, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    gpx_auth_free(auth);
    return -1;
}

int
gpx_auth_parse(struct gpx_auth *auth, const char *text, size_t len, char *why, size_t whylen)
{
    const char *p = text, *end = text + len;
    unsigned line = 0, i;

    memset(auth, 0, sizeof(*auth));
    auth->users = calloc(GPX_AUTH_USERS_MAX, sizeof(*auth->users));
    auth->crypt_scratch = calloc(1, sizeof(struct crypt_data));
    pthread_mutex_init(&auth->lock, NULL);
    if (auth->users == NULL || auth->crypt_scratch == NULL) {
        return fail(auth, why, whylen, "out of memory");
    }
    if (gnutls_rnd(GNUTLS_RND_KEY, auth->key, sizeof(auth->key)) != 0) {
        return fail(auth, why, whylen, "no random key for the credentials cache");
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol != NULL ? eol : end, *colon;
        size_t name_len, hash_len;

        line++;
        if (stop > p && stop[-1] == '\r') {
            stop--;
        }
        if (stop == p || p[0] == '#') {
            p = eol != NULL ? eol + 1 : end;
            continue;
        }
        colon = memchr(p, ':', (size_t)(stop - p));
        if (colon == NULL || colon == p) {
            return fail(auth, why, whylen, "line %u: expected user:hash", line);
        }
        name_len = (size_t)(colon - p);
        hash_len = (size_t)(stop - colon - 1);
        if (name_len >= GPX_AUTH_NAME_MAX || memchr(p, '\0', name_len) != NULL) {
            return fail(auth, why, whylen, "line %u: a user name of 1 to %d bytes", line, GPX_AUTH_NAME_MAX - 1);
        }
        if (!is_bcrypt(colon + 1, hash_len)) {
            return fail(auth, why, whylen, "line %u: %s where a bcrypt hash ($2y$, $2b$ or $2a$, htpasswd -B) belongs",
                        line, hash_kind(colon + 1, hash_len));
        }
        for (i = 0; i < auth->count; i++) {
            if (strlen(auth->users[i].name) == name_len && memcmp(auth->users[i].name, p, name_len) == 0) {
                return fail(auth, why, whylen, "line %u: user \"%.*s\" appears twice", line, (int)name_len, p);
            }
        }
        if (auth->count == GPX_AUTH_USERS_MAX) {
            return fail(auth, why, whylen, "line %u: more than %d users", line, GPX_AUTH_USERS_MAX);
        }
        memcpy(auth->users[auth->count].name, p, name_len);
        memcpy(auth->users[auth->count].hash, colon + 1, hash_len);
        auth->count++;
        p = eol != NULL ? eol + 1 : end;
    }
    if (auth->count == 0) {
        return fail(auth, why, whylen, "no user:hash line");
    }
    return 0;
}

int
gpx_auth_load(struct gpx_auth *auth, const char *path, char *why, size_t whylen)
{
    size_t len;
    char *text;
    unsigned i;
    int rc;

    memset(auth, 0, sizeof(*auth));
    text = gpx_file_read(path, GPX_AUTH_FILE_MAX, &len, why, whylen);
    if (text == NULL) {
        return -1;
    }
    rc = gpx_auth_parse(auth, text, len, why, whylen);
    gnutls_memset(text, 0, len);
    free(text);
    if (rc != 0) {
        return -1;
    }
    /* Each variant this file uses must be one libcrypt computes: try it at
     * the lowest cost with the line's own salt. */
    for (i = 0; i < auth->count; i++) {
        char setting[GPX_AUTH_HASH_LEN + 1];
        const char *out;

        memcpy(setting, auth->users[i].hash, 4);
        memcpy(setting + 4, "04$", 3);
        memcpy(setting + 7, auth->users[i].hash + 7, 22);
        setting[29] = '\0';
        out = crypt_rn("probe", setting, auth->crypt_scratch, (int)sizeof(struct crypt_data));
        if (out == NULL || strncmp(out, setting, 29) != 0) {
            return fail(auth, why, whylen, "line of user \"%s\": this system's libcrypt cannot compute %.4s hashes",
                        auth->users[i].name, auth->users[i].hash);
        }
    }
    return 0;
}

/* HMAC of user and password under the key drawn at start: what the cache
 * holds, so that no password stays in memory after its check. */
static int
credentials_digest(const struct gpx_auth *auth, const char *user, const char *password,
                   unsigned char digest[GPX_AUTH_DIGEST_LEN])
{
    gnutls_hmac_hd_t h;

    if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, auth->key, sizeof(auth->key)) != 0) {
        return -1;
    }
    /* The NUL after the user keeps "ab"+"c" apart from "a"+"bc". */
    if (gnutls_hmac(h, user, strlen(user) + 1) != 0 || gnutls_hmac(h, password, strlen(password)) != 0) {
        gnutls_hmac_deinit(h, NULL);
        return -1;
    }
    gnutls_hmac_deinit(h, digest);
    return 0;
}

int
gpx_auth_check(struct gpx_auth *auth, const char *user, const char *password)
{
    unsigned char digest[GPX_AUTH_DIGEST_LEN];
    char padded[GPX_AUTH_NAME_MAX];
    const struct gpx_auth_user *found = NULL;
    const char *out;
    int cached = 0, ok;
    unsigned i;

    if (auth->count == 0 || user == NULL || password == NULL || strlen(user) >= GPX_AUTH_NAME_MAX ||
        strlen(password) > GPX_AUTH_PASSWORD_MAX) {
        return 0;
    }
    if (credentials_digest(auth, user, password, digest) != 0) {
        return 0;
    }
    pthread_mutex_lock(&auth->lock);
    for (i = 0; i < GPX_AUTH_CACHE_SLOTS; i++) {
        cached |= auth->cache_used[i] & ct_equal(auth->cache[i], digest, sizeof(digest));
    }
    if (cached) {
        pthread_mutex_unlock(&auth->lock);
        return 1;
    }
    /* Every name is compared in full, so the time tells nothing of which
     * name matched, or how much of it. */
    memset(padded, 0, sizeof(padded));
    memcpy(padded, user, strlen(user));
    for (i = 0; i < auth->count; i++) {
        if (ct_equal((const unsigned char *)padded, (const unsigned char *)auth->users[i].name, sizeof(padded))) {
            found = &auth->users[i];
        }
    }
    /* An unknown user costs a bcrypt too: against the first line's hash,
     * whose result is then ignored. */
    out = crypt_rn(password, found != NULL ? found->hash : auth->users[0].hash, auth->crypt_scratch,
                   (int)sizeof(struct crypt_data));
    auth->bcrypt_runs++;
    ok = found != NULL && out != NULL && strlen(out) == GPX_AUTH_HASH_LEN &&
         ct_equal((const unsigned char *)out, (const unsigned char *)found->hash, GPX_AUTH_HASH_LEN);
    if (ok) {
        memcpy(auth->cache[auth->cache_next], digest, sizeof(digest));
        auth->cache_used[auth->cache_next] = 1;
        auth->cache_next = (auth->cache_next + 1) % GPX_AUTH_CACHE_SLOTS;
    }
    gnutls_memset(auth->crypt_scratch, 0, sizeof(struct crypt_data));
    pthread_mutex_unlock(&auth->lock);
    return ok;
}
