/* train.h - the settings of train(...): one table (the six the trainer's
 * own options carry, then the rows of runtime/recipe.def) that checks each
 * setting's value and stores it in the net's ir_train. expand.c evaluates
 * the arguments and calls train_setting for each; it does not know the
 * settings. */
#ifndef TRAIN_H
#define TRAIN_H

#include "diag.h"
#include "eval.h"
#include "ir.h"

/* Whether `name` is a setting at all (an unknown one is reported by
 * train_setting without evaluating its value). */
int train_setting_known(const char *name);

/* Whether setting `name` takes a word (optimizer = adam) rather than a value:
 * the caller then passes the word instead of evaluating the expression. */
int train_setting_takes_word(const char *name);

/* Checks the setting a (its value v, or for a word setting the word) and
 * records it in t; reports mistakes in d (an unknown name lists the valid
 * ones). Returns 0 or -1. */
int train_setting(diag *d, arena *ar, ir_train *t, const ast_arg *a,
                  const value *v, const char *word);

#endif
