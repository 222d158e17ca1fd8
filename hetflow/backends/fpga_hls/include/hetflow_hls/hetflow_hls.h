// hetflow fpga_hls template library: everything a generated design includes.
#ifndef HETFLOW_HLS_H_
#define HETFLOW_HLS_H_

#include "hf_common.h"
#include "hf_dense.h"
#include "hf_pool.h"
#include "hf_activation.h"
#include "hf_merge.h"
#include "hf_softmax.h"

#endif  // HETFLOW_HLS_H_
