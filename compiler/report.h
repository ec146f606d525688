/* report.h - what `netc shapes` and `netc dot` print: the layer table, its
 * JSON form and a Graphviz graph. They only read the IR. */
#ifndef REPORT_H
#define REPORT_H

#include <stdio.h>

#include "ir.h"

/* The table: every layer in execution order under the block call that made
 * it, with output shape (batch first), parameters and FLOPs, then totals. */
void report_table(const ir_graph *g, int batch, FILE *out);

/* {"net": ..., "input": [...], "params": N, "flops": N, "layers": [...]} */
void report_json(const ir_graph *g, FILE *out);

/* digraph with one cluster per block call. */
void report_dot(const ir_graph *g, FILE *out);

/* 46764746 -> "46,764,746" */
const char *fmt_count(int64_t v, char *buf, size_t n);
/* 1234567 -> "1.23M" */
const char *fmt_si(double v, char *buf, size_t n);

#endif
