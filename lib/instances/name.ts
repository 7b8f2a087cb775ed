// The instance name rule is a check shared with postgres/ and lives with the other shared checks in
// lib/options.ts (so postgres/ need not import instances/, which reads postgres/'s redaction).
export { assertInstanceName, isInstanceName } from '../options.js'
