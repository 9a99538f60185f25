/**
 * Entry point on Moddable XS (mcconfig builds it from manifests/barrier-executor.json): the board
 * layer on the XS host (provider — its SPI reaches the FPGA safety core, its Serial the gateway —,
 * manifest config, Timer, boot counter: ../../common/xs/boot.ts).
 */
import { xsHost } from "../../common/xs/boot";
import { startBarrierExecutor, type BarrierDevice } from "../board";

startBarrierExecutor(xsHost<BarrierDevice>("barrier-executor"));
