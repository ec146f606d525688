/* netc_runtime.h - the whole netc runtime: include this from generated
 * trainers and programs that embed the kernels. */
#ifndef NETC_RUNTIME_H
#define NETC_RUNTIME_H

#include "nt_base.h"
#include "nt_kernels.h"
#include "nt_data.h"
#include "nt_io.h"
#include "nt_trainer.h"

#endif
