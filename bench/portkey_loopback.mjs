// Loaded with `node --import` before the Portkey gateway by bench/portkey_gateway.py.
//
// Its start script calls `serve({fetch, port})` with no hostname, so Node would
// listen on every interface. The bench's servers must be reachable from this
// machine only: a listen() without a host is bound to the loopback instead.
import net from "node:net";

const LOOPBACK = "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && (args[1] === undefined || typeof args[1] === "function")) {
    args.splice(1, args[1] === undefined ? 1 : 0, LOOPBACK);
  } else if (args[0] && typeof args[0] === "object" && args[0].port !== undefined && !args[0].host) {
    args[0] = { ...args[0], host: LOOPBACK };
  }
  return listen.apply(this, args);
};
