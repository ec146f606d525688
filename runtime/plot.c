/* plot.c - training curves as a self-contained SVG, in the style of d2l's
 * Animator as train_ch6 uses it: one axes with a grid, x from xmin to xmax
 * labelled (d2l: 'epoch'), y fitted to the data with matplotlib's 5% margins
 * unless the caller fixes it, tick labels at "nice" steps, solid / dashed /
 * dash-dot lines and a legend placed, like matplotlib's loc='best', in the
 * corner the data crowds least.
 *
 * Non-finite points break a line instead of being drawn; a point with no
 * neighbour is drawn as a dot. All text is XML-escaped. It does not pick the
 * d2l colours (the caller passes them; NULL means matplotlib's colour cycle)
 * and does not rasterise. Numbers are printed with printf, so the C locale's
 * decimal point is assumed. */
#include "nt_io.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Figure geometry in px: d2l's 3.5 x 2.5 inch figure at 144 dpi. */
#define FIG_W 504.0
#define FIG_H 360.0
#define MARGIN_L 58.0
#define MARGIN_R 14.0
#define MARGIN_T 14.0
#define MARGIN_T_TITLE 34.0
#define MARGIN_B 46.0
#define FONT 12.0
#define LINE_W 1.5
#define MAX_TICKS 7

typedef struct frame {
    double x0, x1, y0, y1;         /* the data range shown */
    double left, right, top, bottom; /* the axes box in px */
} frame;

static double px_x(const frame *f, double x)
{
    return f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
}

static double px_y(const frame *f, double y)
{
    return f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
}

/* Writes s with XML escapes; control characters are dropped. */
static void put_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, out);
        }
    }
}

/* matplotlib's nonsingular(): widen an empty range by 5% of its value. */
static void widen_if_empty(double *lo, double *hi)
{
    if (*hi - *lo > 1e-12 * fmax(fabs(*lo), fabs(*hi)))
        return;
    if (*hi == 0.0) {
        *lo = -0.05;
        *hi = 0.05;
    } else {
        *lo -= 0.05 * fabs(*lo);
        *hi += 0.05 * fabs(*hi);
    }
}

/* The y range: the data with 5% margins on each side, as matplotlib's
 * autoscale; [0, 1] if there is no finite point. */
static void fit_y(const nt_curve *curves, int ncurves, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int c = 0; c < ncurves; c++)
        for (int i = 0; i < curves[c].n; i++) {
            double y = curves[c].y[i];
            if (isfinite(y) && isfinite(curves[c].x[i])) {
                *lo = fmin(*lo, y);
                *hi = fmax(*hi, y);
            }
        }
    if (*lo > *hi) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    widen_if_empty(lo, hi);
    double m = 0.05 * (*hi - *lo);
    *lo -= m;
    *hi += m;
}

/* A step of 1, 2, 2.5 or 5 times a power of ten giving at most MAX_TICKS
 * ticks in [lo, hi]; *decimals is what its labels need. */
static double tick_step(double lo, double hi, int *decimals)
{
    static const double mantissas[] = {1.0, 2.0, 2.5, 5.0, 10.0};
    double raw = (hi - lo) / (MAX_TICKS - 1);
    double mag = pow(10.0, floor(log10(raw)));
    double step = 10.0 * mag;
    for (int i = 0; i < 5; i++)
        if (mantissas[i] * mag >= raw * (1 - 1e-9)) {
            step = mantissas[i] * mag;
            break;
        }
    int d = (int)-floor(log10(step) + 1e-9);
    if (fabs(step / pow(10.0, -d) - 2.5) < 1e-9)
        d++;
    *decimals = d > 0 ? d : 0;
    return step;
}

/* Grid lines, tick marks and tick labels of one axis. */
static void put_axis_ticks(FILE *out, const frame *f, int vertical)
{
    double lo = vertical ? f->y0 : f->x0, hi = vertical ? f->y1 : f->x1;
    int decimals;
    double step = tick_step(lo, hi, &decimals);
    double eps = 1e-9 * step, first = ceil((lo - eps) / step);
    for (int k = 0; k <= MAX_TICKS && (first + k) * step <= hi + eps; k++) {
        double v = (first + k) * step;
        char label[32];
        if (fabs(v) < eps)
            v = 0.0; /* no "-0" */
        if (decimals > 6 || fabs(v) >= 1e7)
            snprintf(label, sizeof label, "%g", v);
        else
            snprintf(label, sizeof label, "%.*f", decimals, v);
        if (vertical) {
            double y = px_y(f, v);
            fprintf(out,
                    "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                    "y2=\"%.2f\"/>\n<line class=\"tick\" x1=\"%.2f\" "
                    "y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n"
                    "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s"
                    "</text>\n",
                    f->left, y, f->right, y, f->left - 3.5, y, f->left, y,
                    f->left - 6.0, y + FONT * 0.35, label);
        } else {
            double x = px_x(f, v);
            fprintf(out,
                    "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                    "y2=\"%.2f\"/>\n<line class=\"tick\" x1=\"%.2f\" "
                    "y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n"
                    "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s"
                    "</text>\n",
                    x, f->top, x, f->bottom, x, f->bottom, x,
                    f->bottom + 3.5, x, f->bottom + 6.0 + FONT, label);
        }
    }
}

/* matplotlib's dash patterns, scaled by the line width as it does. */
static const char *dash_attr(int dashed)
{
    switch (dashed) {
    case 1: return " stroke-dasharray=\"5.55 2.4\"";
    case 2: return " stroke-dasharray=\"9.6 2.4 1.5 2.4\"";
    default: return "";
    }
}

static const char *curve_color(const nt_curve *c, int index)
{
    static const char *const cycle[] = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return c->color ? c->color : cycle[index % 10];
}

static int usable(const nt_curve *c, int i)
{
    return isfinite(c->x[i]) && isfinite(c->y[i]);
}

/* One curve: polylines through runs of finite points, dots for lone ones. */
static void put_curve(FILE *out, const frame *f, const nt_curve *c,
                      int index)
{
    const char *color = curve_color(c, index);
    for (int i = 0; i < c->n;) {
        if (!usable(c, i)) {
            i++;
            continue;
        }
        int j = i;
        while (j < c->n && usable(c, j))
            j++;
        if (j - i == 1) {
            fprintf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" "
                    "fill=\"", px_x(f, c->x[i]), px_y(f, c->y[i]));
            put_text(out, color);
            fputs("\"/>\n", out);
        } else {
            fputs("<polyline class=\"curve\" stroke=\"", out);
            put_text(out, color);
            fprintf(out, "\"%s points=\"", dash_attr(c->dashed));
            for (int k = i; k < j; k++)
                fprintf(out, "%s%.2f,%.2f", k > i ? " " : "",
                        px_x(f, c->x[k]), px_y(f, c->y[k]));
            fputs("\"/>\n", out);
        }
        i = j;
    }
}

/* ---- legend -------------------------------------------------------------- */

typedef struct box {
    double x, y, w, h;
} box;

static int inside(const box *b, double x, double y)
{
    return x >= b->x && x <= b->x + b->w && y >= b->y && y <= b->y + b->h;
}

/* How much of the data a legend at b would hide: points and points sampled
 * along the segments that fall inside it. */
static int crowding(const frame *f, const nt_curve *curves, int ncurves,
                    const box *b)
{
    int hits = 0;
    for (int c = 0; c < ncurves; c++) {
        const nt_curve *cv = &curves[c];
        for (int i = 0; i < cv->n; i++) {
            if (!usable(cv, i))
                continue;
            double x = px_x(f, cv->x[i]), y = px_y(f, cv->y[i]);
            hits += inside(b, x, y);
            if (i + 1 < cv->n && usable(cv, i + 1)) {
                double x2 = px_x(f, cv->x[i + 1]), y2 = px_y(f, cv->y[i + 1]);
                for (int s = 1; s < 8; s++)
                    hits += inside(b, x + (x2 - x) * s / 8,
                                   y + (y2 - y) * s / 8);
            }
        }
    }
    return hits;
}

static void put_legend(FILE *out, const frame *f, const nt_curve *curves,
                       int ncurves)
{
    int entries = 0;
    size_t longest = 0;
    for (int c = 0; c < ncurves; c++)
        if (curves[c].label && curves[c].label[0]) {
            entries++;
            size_t len = strlen(curves[c].label);
            longest = len > longest ? len : longest;
        }
    if (entries == 0)
        return;
    const double pad = 6.0, row = FONT * 1.4, sample = 24.0;
    box b = {0, 0, 2 * pad + sample + 6.0 + 0.62 * FONT * (double)longest,
             2 * pad + row * entries - (row - FONT)};
    /* matplotlib's order of preference for loc='best' */
    const double ax = f->left + 6.0, ay = f->top + 6.0;
    const double bx = f->right - 6.0 - b.w, by = f->bottom - 6.0 - b.h;
    const double mx = (f->left + f->right - b.w) / 2;
    const double my = (f->top + f->bottom - b.h) / 2;
    const double spots[][2] = {{bx, ay}, {ax, ay}, {ax, by},
                               {bx, by}, {bx, my}, {ax, my},
                               {mx, by}, {mx, ay}, {mx, my}};
    int best = -1, best_hits = 0;
    for (int s = 0; s < 9; s++) {
        box cand = {spots[s][0], spots[s][1], b.w, b.h};
        int hits = crowding(f, curves, ncurves, &cand);
        if (best < 0 || hits < best_hits) {
            best = s;
            best_hits = hits;
        }
    }
    b.x = spots[best][0];
    b.y = spots[best][1];
    fprintf(out, "<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" "
            "width=\"%.2f\" height=\"%.2f\" rx=\"3\" fill=\"white\" "
            "fill-opacity=\"0.8\" stroke=\"#cccccc\"/>\n",
            b.x, b.y, b.w, b.h);
    double y = b.y + pad + FONT / 2;
    for (int c = 0; c < ncurves; c++) {
        if (!curves[c].label || !curves[c].label[0])
            continue;
        fputs("<line class=\"curve\" stroke=\"", out);
        put_text(out, curve_color(&curves[c], c));
        fprintf(out, "\"%s x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                dash_attr(curves[c].dashed), b.x + pad, y,
                b.x + pad + sample, y);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\">", b.x + pad + sample + 6.0,
                y + FONT * 0.35);
        put_text(out, curves[c].label);
        fputs("</text>\n", out);
        y += row;
    }
    fputs("</g>\n", out);
}

/* ---- the figure ---------------------------------------------------------- */

static void put_svg(FILE *out, const char *title, const char *xlabel,
                    const frame *f, const nt_curve *curves, int ncurves)
{
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" "
            "font-size=\"%.0f\">\n"
            "<style>.grid{stroke:#b0b0b0;stroke-width:0.8} "
            ".tick{stroke:black;stroke-width:0.8} "
            ".curve{fill:none;stroke-width:%.1f;stroke-linejoin:round}"
            "</style>\n"
            "<clipPath id=\"axes\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
            "height=\"%.2f\"/></clipPath>\n"
            "<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
            FIG_W, FIG_H, FIG_W, FIG_H, FONT, LINE_W, f->left, f->top,
            f->right - f->left, f->bottom - f->top, FIG_W, FIG_H);
    if (title && title[0]) {
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                (f->left + f->right) / 2, MARGIN_T_TITLE - 10.0);
        put_text(out, title);
        fputs("</text>\n", out);
    }
    put_axis_ticks(out, f, 0);
    put_axis_ticks(out, f, 1);
    fputs("<g clip-path=\"url(#axes)\">\n", out);
    for (int c = 0; c < ncurves; c++)
        put_curve(out, f, &curves[c], c);
    fputs("</g>\n", out);
    fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
            "fill=\"none\" stroke=\"black\" stroke-width=\"0.8\"/>\n",
            f->left, f->top, f->right - f->left, f->bottom - f->top);
    if (xlabel && xlabel[0]) {
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                (f->left + f->right) / 2, FIG_H - 8.0);
        put_text(out, xlabel);
        fputs("</text>\n", out);
    }
    put_legend(out, f, curves, ncurves);
    fputs("</svg>\n", out);
}

int nt_plot_svg(const char *path, const char *title, const char *xlabel,
                double xmin, double xmax, double ymin, double ymax,
                const nt_curve *curves, int ncurves, nt_error *err)
{
    if (!isfinite(xmin) || !isfinite(xmax) || xmin > xmax)
        return nt_fail(err, "%s: bad x range [%g, %g]", path, xmin, xmax);
    if (ncurves < 0 || (ncurves > 0 && !curves))
        return nt_fail(err, "%s: bad curve count %d", path, ncurves);
    for (int c = 0; c < ncurves; c++)
        if (curves[c].n < 0 || (curves[c].n > 0 && (!curves[c].x ||
                                                    !curves[c].y)))
            return nt_fail(err, "%s: curve %d has no points array", path, c);

    frame f;
    f.x0 = xmin;
    f.x1 = xmax;
    widen_if_empty(&f.x0, &f.x1);
    if (isfinite(ymin) && isfinite(ymax) && ymin < ymax) {
        f.y0 = ymin;
        f.y1 = ymax;
    } else {
        fit_y(curves, ncurves, &f.y0, &f.y1);
    }
    if (!isfinite(f.x1 - f.x0) || !isfinite(f.y1 - f.y0))
        return nt_fail(err, "%s: the values are too large to plot", path);
    f.left = MARGIN_L;
    f.right = FIG_W - MARGIN_R;
    f.top = title && title[0] ? MARGIN_T_TITLE : MARGIN_T;
    f.bottom = FIG_H - MARGIN_B;

    nt_atomic_file af;
    if (nt_atomic_open(&af, path, err) != 0)
        return -1;
    put_svg(af.fp, title, xlabel, &f, curves, ncurves);
    return nt_atomic_commit(&af, err);
}
