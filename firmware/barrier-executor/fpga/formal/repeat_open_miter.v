// Formal miter for "a repeated open while opening or open changes nothing" (ARCHITECTURE §6).
// Two copies of the core see the same inputs every cycle, except that whenever the free input
// 'inject' is high and copy A is opening, open, or waiting out the dead time before opening,
// A sees no bus write while B sees a write of OPEN to CTRL. Every register of both copies
// (the 'dbg' vector) must stay equal. Proved by 'syspark fpga prove' (bounded and induction).
`default_nettype none

module repeat_open_miter #(
    parameter [31:0] CLK_HZ             = 32'd50_000_000,
    parameter [31:0] DEBOUNCE_CYCLES    = 32'd2,
    parameter [31:0] RUN_TIMEOUT_CYCLES = 32'd10,
    parameter [31:0] DEAD_TIME_CYCLES   = 32'd3,
    parameter [31:0] WATCHDOG_CYCLES    = 32'd5,
    parameter [31:0] OC_FILTER_CYCLES   = 32'd3
) (
    input wire        clk,
    input wire        rst,
    input wire        lim_open_i,
    input wire        lim_closed_i,
    input wire        obstruct_i,
    input wire        over_current_i,
    input wire        emergency_i,
    input wire        sensor_ok_i,
    input wire        csr_we,
    input wire [3:0]  csr_addr,
    input wire [31:0] csr_wdata,
    input wire        inject
);
    wire [319:0] dbg_a, dbg_b;
    wire [31:0]  rdata_a, rdata_b;
    wire         up_a, down_a, brake_a, fault_a, up_b, down_b, brake_b, fault_b;
    wire [3:0]   code_a, code_b;
    wire [2:0]   state_a, state_b;

    // opening (3), open (4), or reversing (6) towards open (dbg bit 11 = rev_up)
    wire opening_or_open = (state_a == 3'd3) || (state_a == 3'd4) || (state_a == 3'd6 && dbg_a[11]);
    wire inj = inject && opening_or_open;

    safety_core #(
        .CLK_HZ(CLK_HZ), .DEBOUNCE_CYCLES(DEBOUNCE_CYCLES), .RUN_TIMEOUT_CYCLES(RUN_TIMEOUT_CYCLES),
        .DEAD_TIME_CYCLES(DEAD_TIME_CYCLES), .WATCHDOG_CYCLES(WATCHDOG_CYCLES), .OC_FILTER_CYCLES(OC_FILTER_CYCLES)
    ) a (
        .clk(clk), .rst(rst), .lim_open_i(lim_open_i), .lim_closed_i(lim_closed_i), .obstruct_i(obstruct_i),
        .over_current_i(over_current_i), .emergency_i(emergency_i), .sensor_ok_i(sensor_ok_i),
        .csr_we(inj ? 1'b0 : csr_we), .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_rdata(rdata_a),
        .motor_up(up_a), .motor_down(down_a), .brake(brake_a), .fault(fault_a), .fault_code(code_a),
        .state(state_a), .dbg(dbg_a)
    );
    safety_core #(
        .CLK_HZ(CLK_HZ), .DEBOUNCE_CYCLES(DEBOUNCE_CYCLES), .RUN_TIMEOUT_CYCLES(RUN_TIMEOUT_CYCLES),
        .DEAD_TIME_CYCLES(DEAD_TIME_CYCLES), .WATCHDOG_CYCLES(WATCHDOG_CYCLES), .OC_FILTER_CYCLES(OC_FILTER_CYCLES)
    ) b (
        .clk(clk), .rst(rst), .lim_open_i(lim_open_i), .lim_closed_i(lim_closed_i), .obstruct_i(obstruct_i),
        .over_current_i(over_current_i), .emergency_i(emergency_i), .sensor_ok_i(sensor_ok_i),
        .csr_we(inj ? 1'b1 : csr_we), .csr_addr(inj ? 4'h0 : csr_addr), .csr_wdata(inj ? 32'h1 : csr_wdata),
        .csr_rdata(rdata_b), .motor_up(up_b), .motor_down(down_b), .brake(brake_b), .fault(fault_b),
        .fault_code(code_b), .state(state_b), .dbg(dbg_b)
    );

`ifdef FORMAL
    reg m_past_valid = 1'b0;
    always @(posedge clk) m_past_valid <= 1'b1;
    always @* if (!m_past_valid) assume(rst);
    always @(posedge clk) begin
        if (m_past_valid) begin
            p_repeat_open_changes_nothing: assert (dbg_a == dbg_b);
            p_repeat_open_same_outputs: assert (up_a == up_b && down_a == down_b && brake_a == brake_b
                                                && fault_a == fault_b && code_a == code_b && state_a == state_b);
            p_repeat_open_same_reads: assert (inj || rdata_a == rdata_b);
        end
    end
`endif
endmodule

`default_nettype wire
