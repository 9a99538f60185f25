/**
 * Entry point on Moddable XS (mcconfig builds it from manifests/exit-controller.json): the board
 * layer on the XS host (provider, manifest config, Timer, boot counter: ../../common/xs/boot.ts).
 */
import type { BoardDevice } from "../../common/io/board-host";
import { xsHost } from "../../common/xs/boot";
import { startExitController } from "../board";

startExitController(xsHost<BoardDevice>("exit-controller"));
