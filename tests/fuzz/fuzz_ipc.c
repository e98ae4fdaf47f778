/*
 * fuzz_ipc.c — libFuzzer target for the IPC frame decoder (common/abe_ipc.c, SPEC §9.2).
 *
 * The persistence process decodes whatever a peer writes, so abe_ipc_decode must never read past the
 * bytes it is given and must either consume a well-formed frame or stop. The input is copied into an
 * exact-size heap buffer (ASan red zones on both sides) and decoded in a loop, the way a connection buffer
 * is consumed; the small max_payload taken from the first byte exercises the size bound too.
 * Build: cmake -DABE_FUZZ=ON with clang (target fuzz_ipc), run e.g. ./fuzz_ipc -max_total_time=30.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abe_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t max_payload = data[0] == 0xFF ? ABE_IPC_MAX_PAYLOAD : (size_t)data[0] * 16u;
    uint8_t *buf = malloc(size - 1 ? size - 1 : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data + 1, size - 1);
    size_t off = 0, len = size - 1;
    for (;;) {
        abe_ipc_frame_t fr;
        size_t used = 0;
        abe_ipc_decode_result_t dr = abe_ipc_decode(buf + off, len - off, max_payload, &fr, &used);
        if (dr != ABE_IPC_DECODE_OK) break;
        /* Invariants of a decoded frame. */
        if (used != ABE_IPC_HEADER_SIZE + (size_t)fr.length || used > len - off || fr.length > max_payload ||
            fr.op == 0 || fr.op >= ABE_OP__COUNT ||
            fr.payload != (const char *)buf + off + ABE_IPC_HEADER_SIZE)
            abort();
        /* Touch every payload byte so ASan sees any out-of-bounds view. */
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < fr.length; i++)
            sink ^= (uint8_t)fr.payload[i];
        (void)sink;
        (void)abe_op_name(fr.op);
        (void)abe_ipc_status_name(fr.status);
        off += used;
    }
    free(buf);
    return 0;
}
