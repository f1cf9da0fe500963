/* libFuzzer target: the password-file reader and the credentials check.
 *
 * The input is split at its first NUL: before it, a password file; after
 * it, "user:password" as a client sends them in Basic credentials (what
 * libmicrohttpd hands gpx after decoding base64). The credentials are
 * checked against the fuzzed file when it parses, and always against a
 * fixed file, so that the cache of accepted credentials is exercised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* htpasswd -nbB -C 4 prom secret */
static const char fixed_file[] = "prom:$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW\n";

/* bcrypt's cost doubles per step: the fuzzer may write any, keep the runs
 * short by checking credentials only against the cheapest files. */
static int
cheap(const struct gpx_auth *auth)
{
    unsigned i;

    for (i = 0; i < auth->count; i++) {
        if (memcmp(auth->users[i].hash + 4, "04", 2) != 0) {
            return 0;
        }
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gpx_auth fixed;
    static int fixed_ready;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul != NULL ? (size_t)(nul - data) : size;
    size_t cred_len = nul != NULL ? size - file_len - 1 : 0;
    char *cred = malloc(cred_len + 1), *password = NULL;
    char why[256];
    struct gpx_auth auth;
    int ok;

    if (cred == NULL) {
        return 0;
    }
    if (!fixed_ready) {
        if (gpx_auth_parse(&fixed, fixed_file, strlen(fixed_file), why, sizeof(why)) != 0) {
            abort();
        }
        fixed_ready = 1;
    }
    memcpy(cred, nul != NULL ? nul + 1 : data, cred_len);
    cred[cred_len] = '\0';
    password = strchr(cred, ':');
    if (password != NULL) {
        *password++ = '\0';
    }
    if (gpx_auth_parse(&auth, (const char *)data, file_len, why, sizeof(why)) == 0) {
        if (cheap(&auth)) {
            ok = gpx_auth_check(&auth, cred, password);
            if (ok != 0 && ok != 1) {
                abort();
            }
        }
        gpx_auth_free(&auth);
    } else if (auth.count != 0 || auth.users != NULL || strlen(why) == 0) {
        abort(); /* a refusal says why and leaves nothing behind */
    }
    ok = gpx_auth_check(&fixed, cred, password);
    if (ok != (password != NULL && strcmp(cred, "prom") == 0 && strcmp(password, "secret") == 0)) {
        abort();
    }
    free(cred);
    return 0;
}
