/* A WASI preview-1 command in C (`zig cc --target=wasm32-wasi`) for the
 * suite: what the params ask of it, by a word in them ("loop", "alloc",
 * "fail", "env", "file"), else an echo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(void) {
    static char in[65536];
    size_t n = fread(in, 1, sizeof in - 1, stdin);
    in[n] = 0;
    if (strstr(in, "\"loop\"")) {
        for (volatile unsigned long i = 0;; i++) {
        }
    }
    if (strstr(in, "\"alloc\"")) {
        size_t size = (size_t)200 << 20;
        /* volatile: the compiler must not drop an allocation never read. */
        volatile char *block = malloc(size);
        if (!block) {
            fputs("probe: out of memory\n", stderr);
            abort();
        }
        for (size_t i = 0; i < size; i += 4096) block[i] = 1;
        printf("{\"allocated_mb\":%d}", (int)(size >> 20) * block[4096]);
        return 0;
    }
    if (strstr(in, "\"fail\"")) {
        fputs("probe: failing as asked\n", stderr);
        return 3;
    }
    if (strstr(in, "\"env\"")) {
        printf("{\"env\":[");
        for (char **e = environ; *e; e++) {
            char *eq = strchr(*e, '=');
            int len = eq ? (int)(eq - *e) : (int)strlen(*e);
            printf("%s\"%.*s\"", e == environ ? "" : ",", len, *e);
        }
        printf("]}");
        return 0;
    }
    if (strstr(in, "\"file\"")) {
        FILE *f = fopen("/etc/passwd", "r");
        if (!f) f = fopen("passwd", "r");
        printf("{\"file\":\"%s\"}", f ? "opened" : "refused");
        return 0;
    }
    printf("{\"echo\":%s}", in);
    return 0;
}
