// Loads a k6 script as k6 v1.2.0 does: an ES module in a JavaScript context of its own (no Node
// globals: no process, require, Buffer or fetch; k6's __ENV, __VU, __ITER, console and open()
// instead), whose imports resolve to files next to the importing one or to k6's built-in modules.
// Every VU evaluates its own copy (k6 runs the init code once per VU). Needs node's
// --experimental-vm-modules (the k6 launcher's shebang passes it).
//
// Errors carry k6's exit codes: a syntax error or an exception while the init code runs is a
// script error (107); a module that cannot be resolved ends k6 with 255.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve as resolvePath } from "node:path";
import vm from "node:vm";
import { builtinModule } from "./k6-modules.mjs";

export const EXIT = { thresholdsFailed: 99, invalidConfig: 104, externalAbort: 105, scriptException: 107, generic: 255 };

export class K6Error extends Error {
  constructor(exitCode, message) {
    super(message);
    this.exitCode = exitCode;
  }
}

function location(error) {
  const stack = typeof error?.stack === "string" ? error.stack.split("\n").find((line) => /file:\/\//.test(line)) : undefined;
  return stack ? `\n\t${stack.trim()}` : "";
}

/** The message k6 prints for an exception thrown by script code. */
export function scriptErrorMessage(error) {
  if (error instanceof K6Error) return error.message;
  const text = error && typeof error === "object" && "name" in error ? `${error.name}: ${error.message}` : String(error);
  return `${text}${location(error)}`;
}

function moduleNotFound(specifier) {
  return new K6Error(
    EXIT.generic,
    `The moduleSpecifier "${specifier}" couldn't be found on local disk. Make sure that you've specified the right path to the file. If you're running k6 using the Docker image make sure you have mounted the local directory (-v /local/path/:/app/) with the script(s).`,
  );
}

/**
 * Evaluates the script for one VU (or the init check, or handleSummary's fresh VM).
 * host: the k6 APIs' backend for this VU (k6-modules.mjs describes it). Returns the module's
 * namespace (its exports).
 */
export async function loadScript(scriptPath, host) {
  const mainPath = resolvePath(scriptPath);
  const context = vm.createContext(
    {},
    { name: `k6 VU ${host.vuId()}`, codeGeneration: { strings: true, wasm: false } },
  );
  installGlobals(context, host, dirname(mainPath));
  const modules = new Map();

  const fromFile = (path) => {
    let module = modules.get(path);
    if (module) return module;
    const source = readFileSync(path, "utf8");
    try {
      module = new vm.SourceTextModule(source, { identifier: `file://${path}`, context });
    } catch (error) {
      throw new K6Error(EXIT.scriptException, `file://${path}: ${scriptErrorMessage(error)}`);
    }
    modules.set(path, module);
    return module;
  };

  const link = (specifier, referencing) => {
    if (specifier === "k6" || specifier.startsWith("k6/")) {
      const key = `builtin:${specifier}`;
      let module = modules.get(key);
      if (!module) {
        const exports = builtinModule(specifier, host, context);
        if (!exports) {
          throw new K6Error(EXIT.generic, `unknown module: ${specifier}`);
        }
        const names = Object.keys(exports);
        module = new vm.SyntheticModule(names, function init() {
          for (const name of names) this.setExport(name, exports[name]);
        }, { identifier: specifier, context });
        modules.set(key, module);
      }
      return module;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(specifier) && !specifier.startsWith("file://")) {
      // k6 would download it; nothing leaves this machine in tests.
      throw new K6Error(EXIT.generic, `fake k6: remote module ${specifier} cannot be loaded here (no network)`);
    }
    const base = dirname(referencing.identifier.replace(/^file:\/\//, ""));
    const target = specifier.startsWith("file://") ? specifier.slice("file://".length) : isAbsolute(specifier) ? specifier : resolvePath(base, specifier);
    if (!existsSync(target) || !statSync(target).isFile()) throw moduleNotFound(specifier);
    return fromFile(target);
  };

  const main = fromFile(mainPath);
  try {
    await main.link(link);
  } catch (error) {
    if (error instanceof K6Error) throw error;
    // e.g. "The requested module './x.js' does not provide an export named 'y'"
    throw new K6Error(EXIT.scriptException, scriptErrorMessage(error));
  }
  try {
    await main.evaluate();
  } catch (error) {
    if (error instanceof K6Error) throw error;
    throw new K6Error(EXIT.scriptException, scriptErrorMessage(error));
  }
  return main.namespace;
}

function installGlobals(context, host, scriptDir) {
  const print = (level) => (...args) => host.log(level, args.map((a) => (typeof a === "string" ? a : safeJson(a))).join(" "));
  const console = { log: print("info"), info: print("info"), debug: print("debug"), warn: print("warning"), error: print("error") };
  Object.defineProperties(context, {
    __ENV: { value: host.env(), writable: true, enumerable: true, configurable: true },
    __VU: { get: () => host.vuId(), enumerable: true, configurable: true },
    __ITER: { get: () => host.iteration(), enumerable: true, configurable: true },
    console: { value: console, writable: true, enumerable: false, configurable: true },
    open: {
      value: (path, mode) => {
        if (host.phase() !== "init") throw new Error("open() can be used only in the init context");
        const file = isAbsolute(path) ? path : resolvePath(scriptDir, path);
        if (!existsSync(file)) throw new Error(`open ${file}: no such file or directory`);
        return mode === "b" ? new Uint8Array(readFileSync(file)).buffer : readFileSync(file, "utf8");
      },
      writable: true,
      enumerable: false,
      configurable: true,
    },
  });
}

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** k6's group and check ids: the md5 of their path. */
export function pathId(path) {
  return createHash("md5").update(path).digest("hex");
}
