/* emit_pytorch.c - see emit_pytorch.h. One row of `kinds` per layer kind:
 * either the torch.nn module it constructs, or the expression it computes in
 * forward (joins); a kind without a row is reported, never guessed. */
#include "emit_pytorch.h"

#include <stdlib.h>
#include <string.h>

typedef struct pyctx {
    FILE *out;
    const ir_graph *g;
    arena ar;
} pyctx;

typedef struct py_kind {
    /* the module's constructor, e.g. "nn.Conv2d(1, 6, (5, 5), ...)"; NULL for joins */
    const char *(*module)(pyctx *c, int i);
    /* joins: the forward expression over the input variables */
    const char *(*expr)(pyctx *c, int i);
} py_kind;

static const ir_node *node(pyctx *c, int i) { return &c->g->nodes[i]; }
static const shape *in_shape(pyctx *c, int i)
{
    return &c->g->nodes[c->g->nodes[i].inputs[0]].out;
}

/* The shortest repr that reads back as v (1e-05, not 1.0000000000000001e-05). */
static const char *num(pyctx *c, double v)
{
    for (int prec = 6;; prec++) {
        char *s = arena_printf(&c->ar, "%.*g", prec, v);
        if (prec >= 17 || strtod(s, NULL) == v)
            return s;
    }
}

/* ---- the kinds ----------------------------------------------------------------------- */

static const char *CONV_module(pyctx *c, int i)
{
    const conv_attrs *a = &node(c, i)->a.conv;
    return arena_printf(&c->ar,
                        "nn.Conv2d(%lld, %d, (%d, %d), stride=(%d, %d), padding=(%d, %d), "
                        "dilation=(%d, %d), groups=%d, bias=%s)",
                        (long long)in_shape(c, i)->d[0], a->out, a->kh, a->kw, a->sh, a->sw,
                        a->ph, a->pw, a->dh, a->dw, a->groups, a->bias ? "True" : "False");
}

static const char *pool(pyctx *c, int i, const char *cls)
{
    const pool_attrs *a = &node(c, i)->a.pool;
    return arena_printf(&c->ar, "nn.%s((%d, %d), stride=(%d, %d), padding=(%d, %d)%s)", cls,
                        a->kh, a->kw, a->sh, a->sw, a->ph, a->pw,
                        a->ceil_mode ? ", ceil_mode=True" : "");
}

static const char *MAXPOOL_module(pyctx *c, int i) { return pool(c, i, "MaxPool2d"); }
static const char *AVGPOOL_module(pyctx *c, int i) { return pool(c, i, "AvgPool2d"); }

static const char *adaptive(pyctx *c, int i, const char *cls)
{
    const adaptive_attrs *a = &node(c, i)->a.adaptive;
    return arena_printf(&c->ar, "nn.%s((%d, %d))", cls, a->oh, a->ow);
}

static const char *ADAPTIVE_AVGPOOL_module(pyctx *c, int i)
{
    return adaptive(c, i, "AdaptiveAvgPool2d");
}

static const char *ADAPTIVE_MAXPOOL_module(pyctx *c, int i)
{
    return adaptive(c, i, "AdaptiveMaxPool2d");
}

static const char *LAYERNORM_module(pyctx *c, int i)
{
    const shape *x = in_shape(c, i);
    char *dims = "";
    for (int k = 0; k < x->rank; k++)
        dims = arena_printf(&c->ar, "%s%s%lld", dims, k ? ", " : "", (long long)x->d[k]);
    return arena_printf(&c->ar, "nn.LayerNorm([%s], eps=%s)", dims, num(c, node(c, i)->a.norm.eps));
}

static const char *GROUPNORM_module(pyctx *c, int i)
{
    return arena_printf(&c->ar, "nn.GroupNorm(%d, %lld, eps=%s)", node(c, i)->a.norm.groups,
                        (long long)in_shape(c, i)->d[0], num(c, node(c, i)->a.norm.eps));
}

static const char *LEAKY_RELU_module(pyctx *c, int i)
{
    return arena_printf(&c->ar, "nn.LeakyReLU(%s)", num(c, node(c, i)->a.act.a));
}

static const char *ELU_module(pyctx *c, int i)
{
    return arena_printf(&c->ar, "nn.ELU(alpha=%s)", num(c, node(c, i)->a.act.a));
}

static const char *SOFTPLUS_module(pyctx *c, int i)
{
    return arena_printf(&c->ar, "nn.Softplus(beta=%s, threshold=%s)", num(c, node(c, i)->a.act.a),
                        num(c, node(c, i)->a.act.b));
}

static const char *SILU_module(pyctx *c, int i) { (void)c, (void)i; return "nn.SiLU()"; }
static const char *GELU_module(pyctx *c, int i) { (void)c, (void)i; return "nn.GELU()"; }
static const char *HARDSWISH_module(pyctx *c, int i) { (void)c, (void)i; return "nn.Hardswish()"; }

/* channels (or features) [start, end) */
static const char *SLICE_expr(pyctx *c, int i)
{
    const slice_attrs *a = &node(c, i)->a.slice;
    return arena_printf(&c->ar, "t%d[:, %d:%d]", node(c, i)->inputs[0], a->start, a->end);
}

static const char *BATCHNORM_module(pyctx *c, int i)
{
    const shape *x = in_shape(c, i);
    return arena_printf(&c->ar, "BatchNorm%s(%lld, eps=%s, momentum=%s)",
                        x->rank == 3 ? "2d" : "1d", (long long)x->d[0],
                        num(c, node(c, i)->a.bn.eps), num(c, node(c, i)->a.bn.momentum));
}

static const char *RELU_module(pyctx *c, int i) { (void)c, (void)i; return "nn.ReLU()"; }
static const char *SIGMOID_module(pyctx *c, int i) { (void)c, (void)i; return "nn.Sigmoid()"; }
static const char *TANH_module(pyctx *c, int i) { (void)c, (void)i; return "nn.Tanh()"; }
static const char *FLATTEN_module(pyctx *c, int i) { (void)c, (void)i; return "nn.Flatten()"; }

static const char *DROPOUT_module(pyctx *c, int i)
{
    return arena_printf(&c->ar, "nn.Dropout(%s)", num(c, node(c, i)->a.dropout.p));
}

static const char *LINEAR_module(pyctx *c, int i)
{
    const linear_attrs *a = &node(c, i)->a.linear;
    return arena_printf(&c->ar, "nn.Linear(%lld, %d, bias=%s)", (long long)in_shape(c, i)->d[0],
                        a->out, a->bias ? "True" : "False");
}

static const char *join(pyctx *c, int i, const char *open, const char *sep, const char *close)
{
    const ir_node *n = node(c, i);
    char *s = arena_strdup(&c->ar, open);
    for (int k = 0; k < n->ninputs; k++)
        s = arena_printf(&c->ar, "%s%st%d", s, k ? sep : "", n->inputs[k]);
    return arena_printf(&c->ar, "%s%s", s, close);
}

static const char *CONCAT_expr(pyctx *c, int i) { return join(c, i, "torch.cat([", ", ", "], 1)"); }
static const char *ADD_expr(pyctx *c, int i) { return join(c, i, "", " + ", ""); }

static const py_kind kinds[L_COUNT] = {
    [L_CONV] = {CONV_module, NULL},
    [L_MAXPOOL] = {MAXPOOL_module, NULL},
    [L_AVGPOOL] = {AVGPOOL_module, NULL},
    [L_ADAPTIVE_AVGPOOL] = {ADAPTIVE_AVGPOOL_module, NULL},
    [L_ADAPTIVE_MAXPOOL] = {ADAPTIVE_MAXPOOL_module, NULL},
    [L_BATCHNORM] = {BATCHNORM_module, NULL},
    [L_LAYERNORM] = {LAYERNORM_module, NULL},
    [L_GROUPNORM] = {GROUPNORM_module, NULL},
    [L_RELU] = {RELU_module, NULL},
    [L_SIGMOID] = {SIGMOID_module, NULL},
    [L_TANH] = {TANH_module, NULL},
    [L_LEAKY_RELU] = {LEAKY_RELU_module, NULL},
    [L_ELU] = {ELU_module, NULL},
    [L_SILU] = {SILU_module, NULL},
    [L_GELU] = {GELU_module, NULL},
    [L_HARDSWISH] = {HARDSWISH_module, NULL},
    [L_SOFTPLUS] = {SOFTPLUS_module, NULL},
    [L_SLICE] = {NULL, SLICE_expr},
    [L_DROPOUT] = {DROPOUT_module, NULL},
    [L_FLATTEN] = {FLATTEN_module, NULL},
    [L_LINEAR] = {LINEAR_module, NULL},
    [L_CONCAT] = {NULL, CONCAT_expr},
    [L_ADD] = {NULL, ADD_expr},
};

/* ---- the file --------------------------------------------------------------------------- */

static int is_keyword(const char *s, size_t n)
{
    static const char *const kw[] = {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
        "return", "try", "while", "with", "yield"};
    for (size_t k = 0; k < sizeof kw / sizeof *kw; k++)
        if (strlen(kw[k]) == n && strncmp(kw[k], s, n) == 0)
            return 1;
    return 0;
}

/* "self.a.b" for the first len characters of path (getattr for a segment
 * that is a Python keyword). */
static const char *attr(pyctx *c, const char *path, size_t len)
{
    char *e = "self";
    for (size_t s = 0; s < len;) {
        size_t t = s;
        while (t < len && path[t] != '.')
            t++;
        if (is_keyword(path + s, t - s))
            e = arena_printf(&c->ar, "getattr(%s, '%.*s')", e, (int)(t - s), path + s);
        else
            e = arena_printf(&c->ar, "%s.%.*s", e, (int)(t - s), path + s);
        s = t + 1;
    }
    return e;
}

/* Sets the submodule at path (its first len characters) to ctor. */
static void set_module(pyctx *c, const char *path, size_t len, const char *ctor)
{
    size_t dot = len;
    while (dot > 0 && path[dot - 1] != '.')
        dot--;
    const char *parent = attr(c, path, dot ? dot - 1 : 0);
    if (is_keyword(path + dot, len - dot))
        fprintf(c->out, "        %s.add_module('%.*s', %s)\n", parent, (int)(len - dot), path + dot,
                ctor);
    else
        fprintf(c->out, "        %s.%.*s = %s\n", parent, (int)(len - dot), path + dot, ctor);
}

/* Creates the containers on the way to path (once each). */
static void containers(pyctx *c, const char *path, const char **made, int *nmade)
{
    for (const char *dot = strchr(path, '.'); dot; dot = strchr(dot + 1, '.')) {
        size_t len = (size_t)(dot - path);
        int seen = 0;
        for (int k = 0; k < *nmade && !seen; k++)
            seen = strlen(made[k]) == len && strncmp(made[k], path, len) == 0;
        if (seen)
            continue;
        made[(*nmade)++] = arena_strndup(&c->ar, path, len);
        set_module(c, path, len, "Block()");
    }
}

static const char *prelude =
    "import json\n\n"
    "import numpy as np\n"
    "import torch\n"
    "from torch import nn\n\n\n"
    "class Block(nn.Module):\n"
    "    \"\"\"A block call or branch of the .net file: a container of its layers.\"\"\"\n\n\n"
    "class BatchNorm1d(nn.BatchNorm1d):\n"
    "    \"\"\"Without num_batches_tracked, which netc checkpoints do not have.\"\"\"\n\n"
    "    def __init__(self, *args, **kwargs):\n"
    "        super().__init__(*args, **kwargs)\n"
    "        self.num_batches_tracked = None\n\n\n"
    "class BatchNorm2d(nn.BatchNorm2d):\n"
    "    \"\"\"Without num_batches_tracked, which netc checkpoints do not have.\"\"\"\n\n"
    "    def __init__(self, *args, **kwargs):\n"
    "        super().__init__(*args, **kwargs)\n"
    "        self.num_batches_tracked = None\n\n\n"
    "def read_safetensors(path):\n"
    "    \"\"\"The F32 tensors of a safetensors file as numpy arrays, by name.\"\"\"\n"
    "    with open(path, 'rb') as f:\n"
    "        data = f.read()\n"
    "    n = int.from_bytes(data[:8], 'little')\n"
    "    if len(data) < 8 or n > len(data) - 8:\n"
    "        raise ValueError(f'{path}: not a safetensors file')\n"
    "    header = json.loads(data[8:8 + n])\n"
    "    tensors = {}\n"
    "    for name, t in header.items():\n"
    "        if name == '__metadata__':\n"
    "            continue\n"
    "        if t['dtype'] != 'F32':\n"
    "            raise ValueError(f\"{path}: tensor {name} is {t['dtype']}, not F32\")\n"
    "        begin, end = t['data_offsets']\n"
    "        count = int(np.prod(t['shape'], dtype=np.int64))\n"
    "        if end - begin != 4 * count or 8 + n + end > len(data):\n"
    "            raise ValueError(f'{path}: tensor {name}: bad data offsets')\n"
    "        tensors[name] = np.frombuffer(data, dtype='<f4', count=count,\n"
    "                                      offset=8 + n + begin).reshape(t['shape']).copy()\n"
    "    return tensors\n\n\n"
    "def load_netc_checkpoint(module, path):\n"
    "    \"\"\"Loads a netc checkpoint into module (momentum buffers are skipped);\n"
    "    every tensor of the module must be in the file with its shape.\"\"\"\n"
    "    state = {k: torch.from_numpy(v) for k, v in read_safetensors(path).items()\n"
    "             if not k.startswith('momentum.')}\n"
    "    result = module.load_state_dict(state, strict=False)\n"
    "    unexpected = [k for k in result.unexpected_keys\n"
    "                  if not k.endswith('num_batches_tracked')]\n"
    "    if result.missing_keys or unexpected:\n"
    "        raise KeyError(f'{path}: missing {result.missing_keys}, unexpected {unexpected}')\n"
    "    return module\n\n\n";

int emit_pytorch(const ir_graph *g, const pytorch_opts *o, diag *d, FILE *out)
{
    int rc = 0;
    for (int i = 1; i < g->n; i++)
        if (!kinds[g->nodes[i].kind].module && !kinds[g->nodes[i].kind].expr) {
            diag_error(d, g->nodes[i].loc,
                       "netc emit --pytorch does not support layer kind '%s' yet (%s)",
                       layer_name(g->nodes[i].kind), g->nodes[i].path);
            rc = -1;
        }
    if (rc)
        return -1;
    pyctx cx = {out, g, {0}};
    pyctx *c = &cx;
    const shape *in = &g->nodes[0].out;
    fprintf(out, "# %s.py - net %s (%s) as a torch.nn.Module, generated by netc %s:\n# %s\n",
            g->name, g->name, g->file, o->netc_version, o->command);
    fprintf(out, "# Its state_dict keys are the names of the tensors in the trainer's checkpoints:\n"
                 "#   model = %s()\n#   load_netc_checkpoint(model, '%s.safetensors').eval()\n"
                 "#   torch.onnx.export(model, torch.zeros(1, %lld",
            g->name, g->name, (long long)in->d[0]);
    if (in->rank == 3)
        fprintf(out, ", %lld, %lld", (long long)in->d[1], (long long)in->d[2]);
    fprintf(out, "), '%s.onnx')\n\n", g->name);
    fputs(prelude, out);
    fprintf(out, "class %s(nn.Module):\n", g->name);
    fprintf(out, "    input_shape = (");
    for (int k = 0; k < in->rank; k++)
        fprintf(out, "%s%lld", k ? ", " : "", (long long)in->d[k]);
    fprintf(out, "%s)\n\n    def __init__(self):\n        super().__init__()\n", in->rank == 1 ? "," : "");
    const char **made = arena_alloc(&c->ar, sizeof(char *) * (size_t)(g->n * 8 + 1));
    int nmade = 0;
    for (int i = 1; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        if (!kinds[n->kind].module)
            continue;
        containers(c, n->path, made, &nmade);
        set_module(c, n->path, strlen(n->path), kinds[n->kind].module(c, i));
    }
    fprintf(out, "\n    def forward(self, t0):\n");
    for (int i = 1; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        if (kinds[n->kind].module)
            fprintf(out, "        t%d = %s(t%d)\n", i, attr(c, n->path, strlen(n->path)),
                    n->inputs[0]);
        else
            fprintf(out, "        t%d = %s  # %s\n", i, kinds[n->kind].expr(c, i), n->path);
    }
    fprintf(out, "        return t%d\n", g->n - 1);
    arena_free(&c->ar);
    return 0;
}
