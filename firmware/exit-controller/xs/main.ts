/**
 * Entry point on Moddable XS (mcconfig builds it from manifests/exit-controller.json or
 * manifests/entry-terminal.json): the board layer of the role the manifest config names, on the
 * XS host (provider, manifest config, Timer, boot counter: ../../common/xs/boot.ts).
 */
import type { BoardDevice } from "../../common/io/board-host";
import { xsHost } from "../../common/xs/boot";
import { startLaneController } from "../lane-board";

startLaneController(xsHost<BoardDevice>("exit-controller"));
