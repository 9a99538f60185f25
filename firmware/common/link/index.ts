/** The serial link contract (ARCHITECTURE §2), shared by firmware, gateway and HIL. */
export { crc16, hex4 } from "./crc16";
export { decodeFrame, encodeFrame, escapeValue, type Fields, type Frame, type DecodeResult } from "./frame";
export { LineBuffer, asciiBytes } from "./line-buffer";
export { MAX_FIELDS, MAX_FRAME_LENGTH, MAX_SEQ, PROTOCOL_VERSION, SEQ_WINDOW } from "./limits";
export { MESSAGES, BARRIER_STATES, EXIT_STATES, describeMessage, validateMessage, type ExitState, type MessageSpec, type BoardKind } from "./messages";
export { DEFAULT_TIMING, LinkSession, type Identity, type LinkOptions, type LinkStats, type LinkTiming } from "./session";
