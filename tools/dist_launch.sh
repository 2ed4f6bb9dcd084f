#!/usr/bin/env bash
# torchrun (mmengine's 'pytorch' launcher) around one of the tools:
#   tools/dist_launch.sh TOOL.py NPROC [tool arguments]
# used by dist_train.sh and dist_test.sh. Several machines: set NNODES,
# NODE_RANK, MASTER_ADDR (and PORT) on each. PYTHON picks the interpreter.
set -euo pipefail
TOOL=$1
NPROC=$2
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$TOOL" "${@:3}" --launcher pytorch
