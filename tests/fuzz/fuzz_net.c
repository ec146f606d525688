/* fuzz_net.c - the .net front end: parse, expand, shapes and, when that
 * succeeds, the memory plan and the C emitter, on arbitrary text. Any input
 * must end in a result or diagnostics: no crash, no sanitizer report. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "emit.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) /* the front end's own limits are tested elsewhere */
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    compilation c;
    compile_opts o = {"fuzz.net", text, NULL, {0}};
    if (compile_net(&c, &o) == 0 && c.graph.n > 0) {
        plan p;
        if (plan_memory(&c.graph, &c.ar, &c.diag, &p) == 0) {
            FILE *out = fopen("/dev/null", "w");
            emit_opts eo = {"fuzz", "netc emit fuzz.net"};
            emit_c(&c.graph, &p, &eo, out);
            fclose(out);
        }
    }
    compile_free(&c);
    free(text);
    return 0;
}
