#!/usr/bin/env bash
# Distributed testing: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py
# options]; NNODES, NODE_RANK, MASTER_ADDR and PORT as for dist_train.sh.
exec "$(dirname "$0")/dist_launch.sh" test.py "$3" "$1" "$2" "${@:4}"
