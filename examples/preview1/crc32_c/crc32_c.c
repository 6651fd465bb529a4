/* The CRC-32 of the params: a plain C program for WASI preview 1.
 * The params arrive on stdin (and in TASKBOX_PARAMS); what it prints is the
 * result; a non-zero exit is a failure, its stderr in the logs.
 *
 * Build: zig cc --target=wasm32-wasi -O2 -s crc32_c.c -o crc32_c.wasm
 * (or wasi-sdk's clang --target=wasm32-wasip1). */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    uint32_t crc = 0xFFFFFFFFu;
    unsigned long bytes = 0;
    int c;
    while ((c = getchar()) != EOF) {
        crc ^= (uint8_t)c;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
        bytes++;
    }
    if (bytes == 0) {
        fputs("crc32_c: no params on stdin\n", stderr);
        return 2;
    }
    printf("{\"bytes\": %lu, \"crc32\": \"%08x\"}\n", bytes, crc ^ 0xFFFFFFFFu);
    return 0;
}
