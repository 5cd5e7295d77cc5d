import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';

const DOVECOT = '/usr/sbin/dovecot';

/** A throw-away dovecot IMAP server on loopback with one passwd-file user and a Maildir. */
export interface TestDovecot {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  /** Delivers a raw message into INBOX by IMAP APPEND. */
  append(raw: string | Buffer, flags?: string[]): Promise<void>;
  /** Drops a message straight into the Maildir, as local delivery does; works while IMAP is down. */
  deliver(raw: string | Buffer): Promise<void>;
  /** UIDs of the INBOX messages without \Seen. */
  unseen(): Promise<number[]>;
  /** Stops the server, keeping its mail; `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** Resolves once the server greets on the port. */
async function waitForGreeting(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dovecot exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('data', (d) => {
        socket.destroy();
        resolve(d.toString().startsWith('* OK'));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of the direct children of `pid`, read from /proc. */
async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Field 4 (after the parenthesised command name) is the parent pid.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(entry));
  }
  return out;
}

async function passwdEntry(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const lines = (await readFile('/etc/passwd', 'utf8')).split('\n');
  const fields = lines.map((l) => l.split(':')).find((f) => f[0] === name);
  return fields ? { uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/**
 * Starts Debian's dovecot with its own config in a temp dir. Run as root, dovecot refuses to run its login
 * process or mail access as root, so those run as the package's `dovenull` and `dovecot` users.
 */
export async function startDovecot(options: { user?: string; password?: string } = {}): Promise<TestDovecot> {
  if (!existsSync(DOVECOT)) throw new Error('dovecot is not installed (apt-get install dovecot-imapd)');
  const user = options.user ?? 'service@example.test';
  const password = options.password ?? 'test-password';
  const dir = await mkdtemp(join(tmpdir(), 'dovecot-'));
  // dovecot's unprivileged processes must reach their sockets and the config through these dirs.
  await chmod(dir, 0o755);
  const home = join(dir, 'home');
  await mkdir(home, { mode: 0o755 });
  await chmod(home, 0o755);

  const root = process.getuid?.() === 0;
  const me = userInfo();
  const mailOwner = root ? ((await passwdEntry('dovecot')) ?? { uid: 65534, gid: 65534 }) : { uid: me.uid, gid: me.gid };
  const loginUser = root ? ((await passwdEntry('dovenull')) ? 'dovenull' : 'nobody') : me.username;
  const internalUser = root ? ((await passwdEntry('dovecot')) ? 'dovecot' : 'nobody') : me.username;
  if (root) await chown(home, mailOwner.uid, mailOwner.gid);

  const port = await freePort();
  const users = join(dir, 'users');
  await writeFile(users, `${user}:{PLAIN}${password}:${mailOwner.uid}:${mailOwner.gid}::${home}\n`, { mode: 0o644 });
  const conf = join(dir, 'dovecot.conf');
  await writeFile(
    conf,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = test-${port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = ${loginUser}
default_internal_user = ${internalUser}
default_internal_group = ${internalUser}
first_valid_uid = 1
first_valid_gid = 0
log_path = ${dir}/dovecot.log
mail_location = maildir:~/Maildir
# Without inotify (containers) IDLE falls back to polling, every 30 s by default.
mailbox_idle_check_interval = 1 secs
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${users}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${users}
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`,
    { mode: 0o644 },
  );

  let child: ChildProcess | undefined;
  let delivered = 0;
  const start = async () => {
    // -F keeps the master in the foreground, so this process owns it and can stop it.
    child = spawn(DOVECOT, ['-F', '-c', conf], { stdio: 'ignore' });
    await waitForGreeting(port, child);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    // A clean shutdown leaves IDLE connections open for ~10 s; killing the master and its children makes
    // the server vanish at once, as a crash or a network cut would. Nothing else shares its files.
    const children = c.pid ? await childPids(c.pid) : [];
    c.kill('SIGKILL');
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  };
  const withClient = async <T>(fn: (client: ImapFlow) => Promise<T>): Promise<T> => {
    const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: password }, logger: false });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.logout();
    }
  };

  await start();
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    dir,
    append: async (raw, flags = []) => {
      await withClient((c) => c.append('INBOX', raw, flags));
    },
    deliver: async (raw) => {
      const maildir = join(home, 'Maildir');
      for (const sub of ['tmp', 'new', 'cur']) {
        await mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
        if (root) await chown(join(maildir, sub), mailOwner.uid, mailOwner.gid);
      }
      if (root) await chown(maildir, mailOwner.uid, mailOwner.gid);
      const name = `${Date.now()}.M${++delivered}P${process.pid}.test`;
      // Written under tmp/ and renamed into new/, so dovecot never sees half a message.
      await writeFile(join(maildir, 'tmp', name), raw, { mode: 0o600 });
      if (root) await chown(join(maildir, 'tmp', name), mailOwner.uid, mailOwner.gid);
      await rename(join(maildir, 'tmp', name), join(maildir, 'new', name));
    },
    unseen: () =>
      withClient(async (c) => {
        await c.mailboxOpen('INBOX', { readOnly: true });
        return ((await c.search({ seen: false }, { uid: true })) || []).sort((a, b) => a - b);
      }),
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
