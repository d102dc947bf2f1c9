// TLS for the gRPC port, with client certificates (mTLS) when TLS_CLIENT_CA_FILE is set, and
// the files re-read when they change (cert-manager renews them in place) without a restart.
// grpc-js lets server credentials push a new secure context to every server bound with them
// (the `_addWatcher` hook its own certificate providers use): this class is such credentials,
// reading the files itself. A changed set is checked (key matches certificate, all parse)
// before it replaces the one in use; a broken one is logged and the old one kept.
// Client certificates are requested but not required by the TLS layer: a call with an
// invalid one (another CA, expired) arrives without a verified certificate, and authentication
// answers it UNAUTHENTICATED with a message, rather than a bare handshake failure.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by one of these to be authenticated by it. */
  clientCaFile?: string;
}

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

function same(a: Loaded, b: Loaded): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));
}

/** Throws when the set cannot make a TLS context (unreadable PEM, key not matching the certificate). */
function check(files: Loaded): SecureContextOptions {
  const options: SecureContextOptions = { cert: files.cert, key: files.key, ...(files.ca ? { ca: files.ca } : {}) };
  createSecureContext(options);
  return options;
}

function describeCert(pem: Buffer): { subject: string; validTo: string } {
  const cert = new X509Certificate(pem);
  return { subject: cert.subject.replace(/\n/g, ", "), validTo: cert.validTo };
}

export class RotatingServerCredentials extends ServerCredentials {
  private loaded: Loaded;
  private timer?: NodeJS.Timeout;
  private reading = false;

  /** Reads and checks the files now: a bad set stops the start-up. */
  constructor(
    private readonly files: TlsFiles,
    private readonly reloadIntervalMs: number,
    private readonly logger: Logger,
  ) {
    const loaded = {
      cert: readFileSync(files.certFile),
      key: readFileSync(files.keyFile),
      ...(files.clientCaFile ? { ca: readFileSync(files.clientCaFile) } : {}),
    };
    const options = check(loaded);
    super({ requestCert: files.clientCaFile !== undefined, rejectUnauthorized: false }, options);
    this.loaded = loaded;
    logger.info({ ...describeCert(loaded.cert), clientCertificates: files.clientCaFile !== undefined }, "TLS certificates loaded");
  }

  /** Polls the files (a Secret volume swaps them by symlink, which file watches miss). */
  start(): void {
    this.timer = setInterval(() => void this.reload(), this.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the files; when they changed and make a valid set, every bound server takes it. Resolves true when it did. */
  async reload(): Promise<boolean> {
    if (this.reading) return false;
    this.reading = true;
    try {
      const [cert, key, ca] = await Promise.all([
        readFile(this.files.certFile),
        readFile(this.files.keyFile),
        this.files.clientCaFile ? readFile(this.files.clientCaFile) : Promise.resolve(undefined),
      ]);
      const next: Loaded = { cert, key, ...(ca ? { ca } : {}) };
      if (same(next, this.loaded)) return false;
      const options = check(next);
      this.loaded = next;
      this.updateSecureContextOptions(options);
      this.logger.info(describeCert(cert), "TLS certificates reloaded");
      return true;
    } catch (error) {
      // Mid-rotation (a key written before its certificate) or broken: keep serving the old set.
      this.logger.warn({ err: error }, "TLS certificate files unreadable or inconsistent; keeping the ones in use");
      return false;
    } finally {
      this.reading = false;
    }
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
