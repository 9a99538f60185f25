// Formal properties of the safety core, included inside 'module safety_core' under 'ifdef FORMAL'
// (yosys 'read_verilog -formal'). Proved by 'syspark fpga prove' (bounded from reset, and by
// k-induction) with scaled-down timing parameters. Every property is labelled 'p_*' (an
// invariant of ARCHITECTURE §6 / issue 3) or 'l_*' (a lemma that keeps the induction
// strong: it pins registers to values reachable from reset). docs/safety-core.md lists them.

    reg f_past_valid = 1'b0;
    always @(posedge clk) f_past_valid <= 1'b1;
    always @* if (!f_past_valid) assume(rst);

    // ---- monitors, written independently of the design's own counters ----
    reg [31:0] f_off;       // consecutive cycles (before this one) with both motor outputs off
    reg [31:0] f_on;        // consecutive cycles (before this one) with a motor output on
    reg [31:0] f_since_hb;  // cycles since the last heartbeat write
    reg [31:0] f_ob_raw;    // consecutive cycles (before this one) with the raw obstruction input high
    reg [31:0] f_oc_raw;    // consecutive cycles (before this one) with the raw over-current input high
    reg        f_up_since_down;  // a motor-up cycle with the closed limit released since the last motor-down cycle
    always @(posedge clk) begin
        if (rst) begin
            f_off <= 32'd0;
            f_on <= 32'd0;
            f_since_hb <= WATCHDOG_CYCLES;
            f_ob_raw <= 32'd0;
            f_oc_raw <= 32'd0;
            f_up_since_down <= 1'b0;
        end else begin
            f_off <= moving ? 32'd0 : (f_off > DEAD_TIME_CYCLES ? f_off : f_off + 32'd1);
            f_on <= moving ? (f_on > RUN_TIMEOUT_CYCLES ? f_on : f_on + 32'd1) : 32'd0;
            f_since_hb <= c_hb ? 32'd0 : (f_since_hb > WATCHDOG_CYCLES ? f_since_hb : f_since_hb + 32'd1);
            f_ob_raw <= obstruct_i ? (f_ob_raw > DEBOUNCE_CYCLES + 32'd3 ? f_ob_raw : f_ob_raw + 32'd1) : 32'd0;
            f_up_since_down <= motor_down ? 1'b0 : ((motor_up && !stable[1]) ? 1'b1 : f_up_since_down);
            f_oc_raw <= over_current_i ? (f_oc_raw > OC_FILTER_CYCLES + 32'd3 ? f_oc_raw : f_oc_raw + 32'd1) : 32'd0;
        end
    end

    reg f_live = 1'b0;                                 // at least one clock since reset
    always @(posedge clk) f_live <= f_past_valid && !rst;
    wire f_normal = !both_limits && !oc_trip && !run_expired && !lc_stuck && !em && hb_ok && state != S_FAULT && state != S_SAFE;

    always @(posedge clk) begin
        if (f_past_valid) begin
            // §6: motor up and motor down are never both on; the brake holds whenever the motor is off
            p_no_up_and_down: assert (!(motor_up && motor_down));
            p_brake_iff_idle: assert (brake == !(motor_up || motor_down));
            // §6: no motion longer than the run timeout
            p_run_timeout: assert (!moving || f_on < RUN_TIMEOUT_CYCLES);
            // issue 14 item 7: after a run timeout the next motion is a bounded probe
            p_probe_bounded: assert (!moving || !rt_probe || f_on < RUN_PROBE_CYCLES);
            // §6 + UL 325 / EN 12453: never start or continue closing while an obstruction is
            // present or the sensor is failed/missing (checked before every closing movement)
            p_no_close_into_obstruction: assert (!f_live || !$past(ob_eff) || !motor_down);
            // bounded reaction to the raw photocell: 2 synchroniser + DEBOUNCE + 1 state cycles
            p_obstruction_bound: assert (f_ob_raw < DEBOUNCE_CYCLES + 32'd3 || !motor_down);
            // §6: heartbeat loss puts the core in its safe state within the watchdog window
            // (emergency free exit excepted: it opens even with the MCU silent)
            p_watchdog_safe: assert (!f_live || f_since_hb <= WATCHDOG_CYCLES || $past(em) ||
                                     state == S_SAFE || state == S_FAULT);
            p_safe_is_still: assert (state != S_SAFE || (!motor_up && !motor_down && brake));
            // §6: a latched fault stops the motor and shows its code
            p_fault_is_still: assert (state != S_FAULT || (!motor_up && !motor_down && brake && fault && fault_code != F_NONE));
            // bounded reaction to over-current: 2 synchroniser + OC_FILTER + 1 cycles
            p_overcurrent_bound: assert (f_oc_raw < OC_FILTER_CYCLES + 32'd3 || state == S_FAULT);
            // emergency: free exit, never closing
            // §6: a stuck closed limit is never believed: CLOSED only with no upward motion since
            // the last closing motion (issue 14 item 6)
            p_closed_needs_closing: assert (state != S_CLOSED || !f_up_since_down);
            p_emergency_never_closes: assert (!f_live || !$past(em) || !motor_down);
        end
        if (f_live) begin
            // §6: a reversal (indeed any start) passes through a dead time with the motor off
            p_dead_time_up: assert (!(motor_up && !$past(motor_up)) || f_off > DEAD_TIME_CYCLES);
            p_dead_time_down: assert (!(motor_down && !$past(motor_down)) || f_off > DEAD_TIME_CYCLES);
            // obstruction while closing: stop and reverse (first time) ...
            p_obstruction_reverses: assert (!$past(state == S_CLOSING && ob_eff && !obst_seen && f_normal && !c_stop)
                                            || (state == S_REVERSING && rev_up));
            // ... reopen once the dead time is over ...
            p_reversal_reopens: assert (!$past(state == S_REVERSING && rev_up && idle_ok && f_normal && !ctrl_wr)
                                        || state == S_OPENING || state == S_OPEN);
            // ... and a second obstruction in the same cycle stops, waiting for a new command
            p_second_obstruction_stops: assert (!$past(state == S_CLOSING && ob_eff && obst_seen && f_normal && !c_stop)
                                                || state == S_STOPPED);
            // UL 325: reverse on every activation; a closing cycle ends at either end of travel, so
            // the mark never survives fully open (with p_obstruction_reverses: the first obstruction
            // of the next closing cycle reverses again)
            p_open_ends_close_cycle: assert (state != S_OPEN || !obst_seen);
            p_rest_needs_command: assert (!$past((state == S_STOPPED || state == S_OPEN || state == S_CLOSED)
                                                 && f_normal && !c_open && !c_close) || state == $past(state));
            // §6: inconsistent limits and over-current latch a fault ...
            p_both_limits_fault: assert (!$past(both_limits && state != S_FAULT)
                                         || (state == S_FAULT && fault_code == F_BOTH_LIMITS));
            p_overcurrent_fault: assert (!$past(oc_trip && !both_limits && state != S_FAULT)
                                         || (state == S_FAULT && fault_code == F_OVER_CURRENT));
            p_missing_limit_fault: assert (!$past(run_expired && !both_limits && !oc_trip && state != S_FAULT)
                                           || (state == S_FAULT && (fault_code == F_RUN_TIMEOUT || fault_code == F_RUN_TIMEOUT_REPEAT)));
            // ... and a probe that times out latches: no FAULT_RESET leaves it (only rst)
            p_probe_timeout_latches: assert (!$past(state == S_FAULT && fault_code == F_RUN_TIMEOUT_REPEAT)
                                             || (state == S_FAULT && fault_code == F_RUN_TIMEOUT_REPEAT));
            // ... that only an explicit reset clears, and only once the cause is gone
            p_limit_stuck_fault: assert (!$past(lc_stuck && !both_limits && !oc_trip && !run_expired && state != S_FAULT)
                                         || (state == S_FAULT && fault_code == F_LIMIT_STUCK));
            p_fault_needs_reset: assert (!$past(state == S_FAULT) || state == S_FAULT
                                         || $past(c_reset && !both_limits && !oc_trip));
            p_fault_code_latched: assert (!$past(state == S_FAULT) || state != S_FAULT || fault_code == $past(fault_code));
            p_emergency_stays_open: assert (!$past(em && state == S_OPEN && !both_limits && !oc_trip && !lc_stuck) || state == S_OPEN);
        end
    end

    // ---- lemmas: reachable-state invariants (they make the induction step provable) ----
    always @(posedge clk) begin
        if (f_past_valid) begin
            l_motor_up: assert (motor_up == (state == S_OPENING));
            l_motor_down: assert (motor_down == (state == S_CLOSING));
            l_fault_flag: assert (fault == (state == S_FAULT));
            l_fault_code: assert ((state == S_FAULT) == (fault_code != F_NONE) && fault_code <= F_RUN_TIMEOUT_REPEAT);
            l_run_cnt: assert (in_motion ? (run_cnt < run_limit && run_cnt == f_on) : run_cnt == 32'd0);
            l_idle_cnt: assert (idle_cnt == (f_off > DEAD_TIME_CYCLES ? DEAD_TIME_CYCLES : f_off));
            l_wd_cnt: assert (wd_cnt == (f_since_hb > WATCHDOG_CYCLES ? WATCHDOG_CYCLES : f_since_hb));
            l_oc_cnt: assert (oc_cnt <= OC_FILTER_CYCLES);
            l_debounce: assert (db_lo < DEBOUNCE_CYCLES && db_lc < DEBOUNCE_CYCLES && db_ob < DEBOUNCE_CYCLES
                                && db_em < DEBOUNCE_CYCLES && db_sok < DEBOUNCE_CYCLES);
            l_ob_raw: assert (f_ob_raw < 32'd1 || sync1[2]);
            l_ob_raw2: assert (f_ob_raw < 32'd2 || (sync2[2] && (stable[2] || db_ob >= f_ob_raw - 32'd2)));
            l_oc_raw: assert (f_oc_raw < 32'd1 || sync1[3]);
            l_oc_raw2: assert (f_oc_raw < 32'd2 || state == S_FAULT || (sync2[3] && oc_cnt >= f_oc_raw - 32'd2));
            l_off_closed: assert (off_closed == f_up_since_down);
            l_obst_seen: assert (!obst_seen || state != S_CLOSED);
        end
    end
