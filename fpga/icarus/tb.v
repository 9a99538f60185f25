// Icarus Verilog testbench for the safety core (fpga/sim.ts drives it).
// Reads the stimulus from +stim=<file>: one cycle per line, three hex fields
//   <raw inputs, bit 6 = rst> <we | addr << 1> <wdata>
// and writes to +out=<file> one line per cycle: csr_rdata (before the edge) then dbg[0..9]
// (after the edge), hex, space-separated. Same record as the Verilator harness's DUMP.
`timescale 1ns/1ps
`default_nettype none
module tb;
    parameter [31:0] CLK_HZ             = 32'd50_000_000;
    parameter [31:0] DEBOUNCE_CYCLES    = 32'd100_000;
    parameter [31:0] RUN_TIMEOUT_CYCLES = 32'd500_000_000;
    parameter [31:0] DEAD_TIME_CYCLES   = 32'd10_000_000;
    parameter [31:0] WATCHDOG_CYCLES    = 32'd25_000_000;
    parameter [31:0] OC_FILTER_CYCLES   = 32'd2_500_000;

    reg clk = 1'b0, rst = 1'b0;
    reg [6:0] inb = 7'd0;
    reg csr_we = 1'b0;
    reg [3:0] csr_addr = 4'd0;
    reg [31:0] csr_wdata = 32'd0;
    wire [31:0] csr_rdata;
    wire motor_up, motor_down, brake, fault;
    wire [3:0] fault_code;
    wire [2:0] state;
    wire [319:0] dbg;

    safety_core #(
        .CLK_HZ(CLK_HZ), .DEBOUNCE_CYCLES(DEBOUNCE_CYCLES), .RUN_TIMEOUT_CYCLES(RUN_TIMEOUT_CYCLES),
        .DEAD_TIME_CYCLES(DEAD_TIME_CYCLES), .WATCHDOG_CYCLES(WATCHDOG_CYCLES), .OC_FILTER_CYCLES(OC_FILTER_CYCLES)
    ) dut (
        .clk(clk), .rst(rst), .lim_open_i(inb[0]), .lim_closed_i(inb[1]), .obstruct_i(inb[2]),
        .over_current_i(inb[3]), .emergency_i(inb[4]), .sensor_ok_i(inb[5]),
        .csr_we(csr_we), .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_rdata(csr_rdata),
        .motor_up(motor_up), .motor_down(motor_down), .brake(brake), .fault(fault),
        .fault_code(fault_code), .state(state), .dbg(dbg)
    );

    integer fin, fout, rc, i;
    reg [31:0] a, b, c;
    reg [31:0] rdata;
    reg [8*1024-1:0] stim_path, out_path;
    initial begin
        if (!$value$plusargs("stim=%s", stim_path)) begin $display("tb: missing +stim=<file>"); $finish; end
        if (!$value$plusargs("out=%s", out_path)) begin $display("tb: missing +out=<file>"); $finish; end
        fin = $fopen(stim_path, "r");
        fout = $fopen(out_path, "w");
        if (fin == 0 || fout == 0) begin $display("tb: cannot open stimulus or output file"); $finish; end
        rc = $fscanf(fin, "%h %h %h\n", a, b, c);
        while (rc == 3) begin
            inb = a[6:0];
            rst = a[6];
            csr_we = b[0];
            csr_addr = b[4:1];
            csr_wdata = c;
            #5;
            rdata = csr_rdata;
            clk = 1'b1;
            #5;
            $fwrite(fout, "%h", rdata);
            for (i = 0; i < 10; i = i + 1) $fwrite(fout, " %h", dbg[i*32 +: 32]);
            $fwrite(fout, "\n");
            clk = 1'b0;
            rc = $fscanf(fin, "%h %h %h\n", a, b, c);
        end
        $fclose(fout);
        $finish;
    end
endmodule
`default_nettype wire
