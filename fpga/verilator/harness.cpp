// Lockstep harness for the safety core under Verilator (fpga/sim.ts drives it).
// Protocol on stdin/stdout, little-endian u32 words; every reply is flushed (else deadlock).
//   RUN   (1) n, then n records of 8 bytes: [0] raw inputs (bit 6 = rst), [1] we | addr << 1,
//             [2..3] 0, [4..7] wdata.  Reply: running hash, cycles run so far (u32 low bits).
//   DUMP  (2) reply: for each cycle of the last RUN, 11 words: csr_rdata (before the edge),
//             then dbg[0..9] (after the edge).
//   TIME  (4) reps: replays the last RUN's stimulus reps times without hashing.
//             Reply: elapsed nanoseconds (u64).
//   QUIT  (3)
// Per-cycle hash (same as fpga/sim.ts): for each word w of (rdata, dbg0..9):
//   h = (h ^ w) * 0x01000193 mod 2^32.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "Vsafety_core.h"
#include "verilated.h"

static bool read_exact(void* buf, size_t n) {
    return fread(buf, 1, n, stdin) == n;
}
static void write_exact(const void* buf, size_t n) {
    if (fwrite(buf, 1, n, stdout) != n) { perror("harness: write"); exit(1); }
}

static inline void drive(Vsafety_core* top, const uint8_t* r) {
    uint8_t b = r[0];
    top->lim_open_i = b & 1;
    top->lim_closed_i = (b >> 1) & 1;
    top->obstruct_i = (b >> 2) & 1;
    top->over_current_i = (b >> 3) & 1;
    top->emergency_i = (b >> 4) & 1;
    top->sensor_ok_i = (b >> 5) & 1;
    top->rst = (b >> 6) & 1;
    top->csr_we = r[1] & 1;
    top->csr_addr = (r[1] >> 1) & 15;
    top->csr_wdata = (uint32_t)r[4] | ((uint32_t)r[5] << 8) | ((uint32_t)r[6] << 16) | ((uint32_t)r[7] << 24);
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Vsafety_core* top = new Vsafety_core;
    top->clk = 0;
    top->eval();
    std::vector<uint8_t> stim;
    std::vector<uint32_t> dump;
    uint32_t n_last = 0, hash = 0x811c9dc5u, total = 0;
    for (;;) {
        uint32_t cmd;
        if (!read_exact(&cmd, 4)) break;
        if (cmd == 1) {
            uint32_t n;
            if (!read_exact(&n, 4)) break;
            stim.resize((size_t)n * 8);
            if (n && !read_exact(stim.data(), (size_t)n * 8)) break;
            dump.resize((size_t)n * 11);
            for (uint32_t i = 0; i < n; i++) {
                const uint8_t* r = &stim[(size_t)i * 8];
                drive(top, r);
                top->clk = 0;
                top->eval();
                uint32_t* d = &dump[(size_t)i * 11];
                d[0] = top->csr_rdata;
                top->clk = 1;
                top->eval();
                for (int w = 0; w < 10; w++) d[1 + w] = top->dbg[w];
                for (int w = 0; w < 11; w++) hash = (hash ^ d[w]) * 0x01000193u;
            }
            n_last = n;
            total += n;
            uint32_t rep[2] = {hash, total};
            write_exact(rep, 8);
            fflush(stdout);
        } else if (cmd == 2) {
            write_exact(dump.data(), (size_t)n_last * 11 * 4);
            fflush(stdout);
        } else if (cmd == 4) {
            uint32_t reps;
            if (!read_exact(&reps, 4)) break;
            uint32_t sink = 0;
            auto t0 = std::chrono::steady_clock::now();
            for (uint32_t k = 0; k < reps; k++) {
                for (uint32_t i = 0; i < n_last; i++) {
                    drive(top, &stim[(size_t)i * 8]);
                    top->clk = 0;
                    top->eval();
                    sink ^= top->csr_rdata;
                    top->clk = 1;
                    top->eval();
                }
            }
            auto t1 = std::chrono::steady_clock::now();
            uint64_t ns = (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
            ns |= (uint64_t)(sink & 0) ;
            write_exact(&ns, 8);
            fflush(stdout);
        } else {
            break;
        }
    }
    top->final();
    delete top;
    return 0;
}
