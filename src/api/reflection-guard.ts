// With AUTH_REFLECTION_PUBLIC=false, server reflection needs credentials too. Reflection is
// served by @grpc/reflection's own handlers, outside rpc.ts, so it is guarded by a grpc-js
// server interceptor that authenticates calls on its paths and passes every other call by.
// (Installed only then: an interceptor adds a layer to every call of the server.)
import { ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import type { Authenticator } from "../auth/authenticator.js";
import { AuthError } from "../auth/errors.js";
import { authErrorStatus } from "./auth-status.js";

const REFLECTION = "/grpc.reflection.";

export function reflectionGuard(authenticator: Authenticator): ServerInterceptor {
  return (method, call) => {
    if (!method.path.startsWith(REFLECTION)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            Promise.resolve()
              .then(() => authenticator.authenticate({ metadata, getAuthContext: () => call.getAuthContext() }))
              .then(
                () => forward(metadata),
                (error: unknown) => {
                  const refusal = authErrorStatus(error instanceof AuthError ? error : AuthError.unauthenticated("MISSING", false));
                  call.sendStatus(refusal);
                },
              );
          },
        }),
    });
  };
}
