#!/usr/bin/env bash
# Distributed training: tools/dist_train.sh CONFIG NPROC [train.py options]
# Several machines: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=<node 0> PORT=29500 on
# each. Without GPUs the processes use the gloo backend on CPU.
exec "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
