/* fuzz.h - what the fuzz harnesses share: each harness defines
 * LLVMFuzzerTestOneInput for one reader; libFuzzer drives it (tests/fuzz/run.sh,
 * built with clang -fsanitize=fuzzer), and replay.c runs it on every file of
 * its seed corpus in the ordinary test suites. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a file the readers can open: a path private to this process,
 * rewritten on every call. */
const char *fuzz_file(const uint8_t *data, size_t size);

#endif
