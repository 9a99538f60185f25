/**
 * Hard limits of the serial link (ARCHITECTURE §2). They size fixed buffers on the boards, so
 * they are constants of the protocol, not configuration: both ends must agree on them.
 */
export const PROTOCOL_VERSION = 1;
/** Longest frame in bytes, the terminating LF included. Longer lines are dropped and counted. */
export const MAX_FRAME_LENGTH = 400;
/** Most key=value fields in one frame. */
export const MAX_FIELDS = 12;
/** Sequence numbers of reliable frames run 1..MAX_SEQ and wrap to 1; 0 marks unreliable frames. */
export const MAX_SEQ = 65535;
/** A reliable frame is new if it is at most this far ahead of the last one accepted, a duplicate
 *  if at most this far behind; anything else is out of window. */
export const SEQ_WINDOW = 64;
