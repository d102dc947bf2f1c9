import { isAbsolute, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";

describe("path settings", () => {
  it("are made absolute once, against the working directory at start-up", () => {
    const config = loadConfig({
      SQLITE_PATH: "state/js.db",
      SCHEDULES_FILE: "./schedules.json",
      COLLECTORS_DIR: "build/collectors",
      KUBECONFIG: "kube/config",
      K8S_API_SERVER: "https://k8s.example:6443",
      K8S_TOKEN_FILE: "token",
      K8S_CA_FILE: "../ca.crt",
      JOB_IMAGE: "img:1",
      K6_BINARY: "./bin/k6",
    });
    expect(config).toMatchObject({
      DATA_DIR: join(process.cwd(), "data"),
      SQLITE_PATH: resolve("state/js.db"),
      SCHEDULES_FILE: resolve("schedules.json"),
      COLLECTORS_DIR: resolve("build/collectors"),
      KUBECONFIG: resolve("kube/config"),
      K8S_TOKEN_FILE: resolve("token"),
      K8S_CA_FILE: resolve("../ca.crt"),
      K6_BINARY: resolve("bin/k6"),
    });
  });

  it("leave absolute paths as they are, and a bare command name to PATH", () => {
    const config = loadConfig({ DATA_DIR: "/srv/js", K6_BINARY: "k6", KUBECONFIG: "/a/config:b/config", RUNTIME: "local" });
    expect(config.DATA_DIR).toBe("/srv/js");
    expect(config.K6_BINARY).toBe("k6");
    expect(config.KUBECONFIG).toBe(`/a/config:${resolve("b/config")}`);
    expect(isAbsolute(loadConfig({}).COLLECTORS_DIR)).toBe(true);
  });
});
