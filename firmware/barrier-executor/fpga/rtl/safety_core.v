// SysPark barrier safety core (ARCHITECTURE §6, issue 3).
//
// One clock domain, synchronous active-high reset. Every time is counted in cycles of 'clk'
// (CLK_HZ is informational: it is only read back through the CSR map). The cycle-accurate
// TypeScript twin is ../model.ts; the register map is ../regmap.ts and docs/safety-core.md.
// Both must change together: 'syspark fpga cosim' compares every register, every cycle.
//
// Verilog-2005 (iverilog -g2012, verilator --lint-only -Wall clean). The invariants are
// asserted in the 'ifdef FORMAL' block at the end and proved by 'syspark fpga prove'.
`default_nettype none

module safety_core #(
    parameter [31:0] CLK_HZ             = 32'd50_000_000,
    parameter [31:0] DEBOUNCE_CYCLES    = 32'd100_000,      // 2 ms: limits, obstruction, emergency, sensor-ok
    parameter [31:0] RUN_TIMEOUT_CYCLES = 32'd500_000_000,  // 10 s: longest uninterrupted motor run
    parameter [31:0] DEAD_TIME_CYCLES   = 32'd10_000_000,   // 200 ms: motor off before any (re)start
    parameter [31:0] WATCHDOG_CYCLES    = 32'd25_000_000,   // 500 ms: MCU heartbeat window
    parameter [31:0] OC_FILTER_CYCLES   = 32'd2_500_000     // 50 ms: over-current must persist this long
) (
    input  wire         clk,
    input  wire         rst,
    // raw field inputs (asynchronous, active high)
    input  wire         lim_open_i,      // boom fully open
    input  wire         lim_closed_i,    // boom fully closed
    input  wire         obstruct_i,      // photocell / loop under the boom
    input  wire         over_current_i,  // motor driver current comparator
    input  wire         emergency_i,     // site emergency: free exit (open and stay open)
    input  wire         sensor_ok_i,     // obstruction sensor healthy and present (low = failed/missing)
    // CSR bus from the MCU (one access per cycle; reads are combinational on csr_addr)
    input  wire         csr_we,
    input  wire [3:0]   csr_addr,
    input  wire [31:0]  csr_wdata,
    output reg  [31:0]  csr_rdata,
    // outputs
    output reg          motor_up,
    output reg          motor_down,
    output reg          brake,
    output reg          fault,
    output reg  [3:0]   fault_code,
    output reg  [2:0]   state,
    // every register, packed (layout: DBG_LAYOUT in ../regmap.ts); for co-simulation and formal
    output wire [319:0] dbg
);
    // ---- states, fault codes, CSR addresses (mirrored in ../regmap.ts) ----
    localparam [2:0] S_SAFE = 3'd0, S_STOPPED = 3'd1, S_CLOSED = 3'd2, S_OPENING = 3'd3,
                     S_OPEN = 3'd4, S_CLOSING = 3'd5, S_REVERSING = 3'd6, S_FAULT = 3'd7;
    localparam [3:0] F_NONE = 4'd0, F_OVER_CURRENT = 4'd1, F_BOTH_LIMITS = 4'd2, F_RUN_TIMEOUT = 4'd3,
                     F_LIMIT_STUCK = 4'd4, F_RUN_TIMEOUT_REPEAT = 4'd5;
    localparam [3:0] A_CTRL = 4'h0, A_STATUS = 4'h1, A_FAULT = 4'h2, A_ID = 4'h3,
                     A_CFG_DEBOUNCE = 4'h4, A_CFG_RUN_TIMEOUT = 4'h5, A_CFG_DEAD_TIME = 4'h6,
                     A_CFG_WATCHDOG = 4'h7, A_CFG_OC_FILTER = 4'h8, A_CFG_CLK_HZ = 4'h9,
                     A_HB_REMAIN = 4'hA;
    localparam [31:0] CORE_ID = 32'h5AFE_0100;  // "SAFE", register-map version 1.0
    // After a run timeout nothing proves the limit is back: the next motion is a probe of a quarter
    // of the run timeout (at least 1 cycle), and a probe that times out latches until rst.
    localparam [31:0] RUN_PROBE_CYCLES = (RUN_TIMEOUT_CYCLES >> 2) == 32'd0 ? 32'd1 : (RUN_TIMEOUT_CYCLES >> 2);

    // ---- registers ----
    reg  [5:0]  sync1, sync2;        // 2-FF synchronisers {sensor_ok, emergency, over_current, obstruct, lim_closed, lim_open}
    reg  [4:0]  stable;              // debounced {sensor_ok, emergency, obstruct, lim_closed, lim_open}
    reg  [31:0] db_lo, db_lc, db_ob, db_em, db_sok;  // debounce counters
    reg  [31:0] oc_cnt;              // cycles over-current has been continuously present (saturates)
    reg  [31:0] wd_cnt;              // cycles since the last heartbeat (saturates at WATCHDOG_CYCLES)
    reg  [31:0] run_cnt;             // cycles already spent in the current motion state
    reg  [31:0] idle_cnt;            // cycles both motor outputs have been off (saturates at DEAD_TIME_CYCLES)
    reg         rev_up;              // REVERSING: direction to drive once the dead time is over (1 = up)
    reg         off_closed;          // the boom was seen off the closed limit while driving up, and has not driven down since
    reg         rt_probe;            // a run timeout happened and no motion has reached its limit since
    reg         obst_seen;           // an obstruction already reversed the boom in this closing cycle (cleared at CLOSED / OPEN)

    // ---- conditioned inputs ----
    wire lo  = stable[0];
    wire lc  = stable[1];
    wire ob  = stable[2];
    wire em  = stable[3];
    wire sok = stable[4];
    wire oc_trip = (oc_cnt >= OC_FILTER_CYCLES);
    wire hb_ok   = (wd_cnt < WATCHDOG_CYCLES);
    wire moving  = motor_up | motor_down;
    wire idle_ok = !moving && (idle_cnt >= DEAD_TIME_CYCLES);
    // UL 325 / EN 12453: closing needs a present, healthy, clear obstruction sensor.
    wire ob_eff  = ob | ~sok;  // MUTANT-SITE: obstruction-gate
    wire both_limits = lo & lc;
    wire in_motion = (state == S_OPENING) || (state == S_CLOSING);
    wire [31:0] run_limit = rt_probe ? RUN_PROBE_CYCLES : RUN_TIMEOUT_CYCLES;  // MUTANT-SITE: run-probe
    wire run_expired = in_motion && (run_cnt >= run_limit - 32'd1);
    // The boom left the closed limit (it released while driving up) and no closing motion ran
    // since: a closed limit now cannot be the boom, the switch is stuck (ARCHITECTURE §6).
    // Set only once the switch has released, so a jam at the closed end is no stuck switch.
    wire lc_stuck = off_closed && lc;  // MUTANT-SITE: limit-stuck

    // ---- commands (write-one pulses to CTRL) ----
    wire ctrl_wr = csr_we && (csr_addr == A_CTRL);
    wire c_open  = ctrl_wr & csr_wdata[0];
    wire c_close = ctrl_wr & csr_wdata[1] & ~csr_wdata[0];  // open wins over close
    wire c_stop  = ctrl_wr & csr_wdata[2];
    wire c_reset = ctrl_wr & csr_wdata[3];
    wire c_hb    = ctrl_wr & csr_wdata[4];

    // ---- debounce: the stable value follows the synchronised one after DEBOUNCE_CYCLES of disagreement ----
    function [32:0] deb_next;
        input        s;
        input        st;
        input [31:0] c;
        begin
            if (s == st)                           deb_next = {st, 32'd0};
            else if (c >= DEBOUNCE_CYCLES - 32'd1) deb_next = {s, 32'd0};
            else                                   deb_next = {st, c + 32'd1};
        end
    endfunction
    wire [32:0] dn_lo  = deb_next(sync2[0], stable[0], db_lo);
    wire [32:0] dn_lc  = deb_next(sync2[1], stable[1], db_lc);
    wire [32:0] dn_ob  = deb_next(sync2[2], stable[2], db_ob);
    wire [32:0] dn_em  = deb_next(sync2[4], stable[3], db_em);
    wire [32:0] dn_sok = deb_next(sync2[5], stable[4], db_sok);

    // ---- next state ----
    reg [2:0] nxt;
    reg [3:0] nxt_code;
    reg       nxt_rev_up, nxt_obst_seen, tgt_up;
    always @* begin
        nxt = state;
        nxt_code = fault_code;
        nxt_rev_up = rev_up;
        nxt_obst_seen = obst_seen;
        tgt_up = rev_up;
        if (state == S_FAULT) begin
            // a latched fault ends only on an explicit reset, and only once its cause is gone
            // (a stuck closed limit only once the switch has released)
            // (a timed-out probe never: only rst, i.e. maintenance, clears it)
            if (c_reset && !both_limits && !oc_trip && !(fault_code == F_LIMIT_STUCK && lc)
                && fault_code != F_RUN_TIMEOUT_REPEAT) begin
                nxt = hb_ok ? S_STOPPED : S_SAFE;
                nxt_code = F_NONE;
                nxt_obst_seen = 1'b0;
            end
        end else if (both_limits) begin
            nxt = S_FAULT;
            nxt_code = F_BOTH_LIMITS;
        end else if (oc_trip) begin
            nxt = S_FAULT;
            nxt_code = F_OVER_CURRENT;
        end else if (run_expired) begin
            // a missing or stuck limit switch: the motion never ends by itself
            nxt = S_FAULT;
            nxt_code = rt_probe ? F_RUN_TIMEOUT_REPEAT : F_RUN_TIMEOUT;
        end else if (lc_stuck) begin
            // believing it would report CLOSED without the boom having moved down
            nxt = S_FAULT;
            nxt_code = F_LIMIT_STUCK;
        end else if (em) begin
            // site policy: free exit, open and stay open (even without the MCU)
            case (state)
                S_OPEN: ;
                S_OPENING: if (lo) nxt = S_OPEN;
                S_REVERSING: begin
                    nxt_rev_up = 1'b1;
                    if (idle_ok) nxt = lo ? S_OPEN : S_OPENING;
                end
                default: begin  // SAFE, STOPPED, CLOSED, CLOSING
                    if (lo) nxt = S_OPEN;
                    else if (idle_ok) nxt = S_OPENING;
                    else begin nxt = S_REVERSING; nxt_rev_up = 1'b1; end
                end
            endcase
        end else if (!hb_ok) begin
            nxt = S_SAFE;  // MCU silent: motor off, brake on, commands ignored
        end else if (state == S_SAFE) begin
            nxt = S_STOPPED;  // heartbeat back: at rest, waiting for a command
        end else if (c_stop) begin
            if (moving || state == S_REVERSING) nxt = S_STOPPED;
            nxt_obst_seen = 1'b0;
        end else begin
            case (state)
                S_CLOSING: begin
                    if (ob_eff) begin
                        if (obst_seen) begin
                            nxt = S_STOPPED;  // second obstruction in the same cycle: stop, wait for a command
                            nxt_obst_seen = 1'b0;
                        end else begin
                            nxt = S_REVERSING;  // stop, dead time, reopen
                            nxt_rev_up = 1'b1;
                            nxt_obst_seen = 1'b1;
                        end
                    end else if (c_open) begin
                        nxt = S_REVERSING;
                        nxt_rev_up = 1'b1;
                    end else if (lc) nxt = S_CLOSED;
                end
                S_OPENING: begin
                    if (c_close && !ob_eff) begin
                        nxt = S_REVERSING;
                        nxt_rev_up = 1'b0;
                    end else if (lo) nxt = S_OPEN;
                end
                S_REVERSING: begin
                    if (c_open) tgt_up = 1'b1;
                    else if (c_close && !ob_eff) tgt_up = 1'b0;
                    if (!tgt_up && ob_eff) tgt_up = 1'b1;  // never start closing onto an obstruction
                    nxt_rev_up = tgt_up;
                    if (idle_ok) begin
                        if (tgt_up) nxt = lo ? S_OPEN : S_OPENING;
                        else        nxt = lc ? S_CLOSED : S_CLOSING;
                    end
                end
                default: begin  // at rest: STOPPED, CLOSED, OPEN
                    if (c_open && state != S_OPEN) begin
                        if (lo) nxt = S_OPEN;
                        else if (idle_ok) nxt = S_OPENING;
                        else begin nxt = S_REVERSING; nxt_rev_up = 1'b1; end
                    end else if (c_close && !ob_eff && state != S_CLOSED) begin
                        if (lc) nxt = S_CLOSED;
                        else if (idle_ok) nxt = S_CLOSING;
                        else begin nxt = S_REVERSING; nxt_rev_up = 1'b0; end
                    end
                end
            endcase
        end
    end

    // ---- registers ----
    always @(posedge clk) begin
        if (rst) begin
            sync1 <= 6'd0;
            sync2 <= 6'd0;
            stable <= 5'd0;
            db_lo <= 32'd0; db_lc <= 32'd0; db_ob <= 32'd0; db_em <= 32'd0; db_sok <= 32'd0;
            oc_cnt <= 32'd0;
            wd_cnt <= WATCHDOG_CYCLES;  // no heartbeat yet: start in SAFE
            run_cnt <= 32'd0;
            idle_cnt <= 32'd0;          // the motor may still be turning: first start waits a dead time
            state <= S_SAFE;
            fault_code <= F_NONE;
            rev_up <= 1'b0;
            obst_seen <= 1'b0;
            off_closed <= 1'b0;         // position unknown: the first closed limit is believed
            rt_probe <= 1'b0;           // rst is the maintenance reset
            motor_up <= 1'b0;
            motor_down <= 1'b0;
            brake <= 1'b1;
            fault <= 1'b0;
        end else begin
            sync1 <= {sensor_ok_i, emergency_i, over_current_i, obstruct_i, lim_closed_i, lim_open_i};
            sync2 <= sync1;
            stable <= {dn_sok[32], dn_em[32], dn_ob[32], dn_lc[32], dn_lo[32]};
            db_lo <= dn_lo[31:0]; db_lc <= dn_lc[31:0]; db_ob <= dn_ob[31:0];
            db_em <= dn_em[31:0]; db_sok <= dn_sok[31:0];
            oc_cnt <= !sync2[3] ? 32'd0 : (oc_trip ? oc_cnt : oc_cnt + 32'd1);
            wd_cnt <= c_hb ? 32'd0 : (hb_ok ? wd_cnt + 32'd1 : wd_cnt);
            run_cnt <= ((nxt == S_OPENING || nxt == S_CLOSING) && nxt == state) ? run_cnt + 32'd1 : 32'd0;
            idle_cnt <= moving ? 32'd0 : ((idle_cnt >= DEAD_TIME_CYCLES) ? idle_cnt : idle_cnt + 32'd1);
            state <= nxt;
            fault_code <= nxt_code;
            rev_up <= nxt_rev_up;
            // A closing cycle ends at either end of travel: on CLOSED, and on OPEN (UL 325: the next
            // cycle's first obstruction must reverse again, so a reopen must not carry the mark).
            obst_seen <= nxt_obst_seen && (nxt != S_CLOSED) && (nxt != S_OPEN);  // MUTANT-SITE: obst-seen-open
            rt_probe <= (nxt == S_FAULT && nxt_code == F_RUN_TIMEOUT && state != S_FAULT) ? 1'b1
                      : ((state == S_OPENING && nxt == S_OPEN) || (state == S_CLOSING && nxt == S_CLOSED)) ? 1'b0 : rt_probe;
            off_closed <= motor_down ? 1'b0 : ((motor_up && !lc) ? 1'b1 : off_closed);
            motor_up <= (nxt == S_OPENING);
            motor_down <= (nxt == S_CLOSING);
            brake <= !(nxt == S_OPENING || nxt == S_CLOSING);
            fault <= (nxt == S_FAULT);
        end
    end

    // ---- CSR reads ----
    wire close_inhibit = ob_eff | em | ~hb_ok | (state == S_FAULT);
    wire [31:0] status = {8'd0, fault_code, 3'd0, rev_up, obst_seen, close_inhibit, hb_ok, sok,
                          em, oc_trip, ob, lc, lo, brake, motor_down, motor_up, fault, state};
    always @* begin
        case (csr_addr)
            A_STATUS:          csr_rdata = status;
            A_FAULT:           csr_rdata = {28'd0, fault_code};
            A_ID:              csr_rdata = CORE_ID;
            A_CFG_DEBOUNCE:    csr_rdata = DEBOUNCE_CYCLES;
            A_CFG_RUN_TIMEOUT: csr_rdata = RUN_TIMEOUT_CYCLES;
            A_CFG_DEAD_TIME:   csr_rdata = DEAD_TIME_CYCLES;
            A_CFG_WATCHDOG:    csr_rdata = WATCHDOG_CYCLES;
            A_CFG_OC_FILTER:   csr_rdata = OC_FILTER_CYCLES;
            A_CFG_CLK_HZ:      csr_rdata = CLK_HZ;
            A_HB_REMAIN:       csr_rdata = WATCHDOG_CYCLES - wd_cnt;
            default:           csr_rdata = 32'd0;  // CTRL is write-only
        endcase
    end

    assign dbg = {idle_cnt, run_cnt, wd_cnt, oc_cnt, db_sok, db_em, db_ob, db_lc, db_lo,
                  rt_probe, off_closed, stable, sync2, sync1, obst_seen, rev_up, fault, brake, motor_down, motor_up,
                  fault_code, state};

    // csr_wdata[31:5] are reserved (write as zero)
    wire unused_ok = &{1'b0, csr_wdata[31:5]};

`ifdef FORMAL
`ifndef SAFETY_CORE_NO_PROPS
`include "safety_core_props.vh"
`endif
`endif
endmodule

`default_nettype wire
