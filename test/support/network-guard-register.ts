import { installNetworkGuard } from "./network-guard.js";

/** `node --import` entry: guards a child process and reports each attempt on stderr. */
installNetworkGuard((attempt) => {
  process.stderr.write(`${JSON.stringify({ event: "network_guard_refused", ...attempt })}\n`);
});
