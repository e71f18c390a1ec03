#!/usr/bin/env python3
"""Run the Eclipse Paho MQTT interoperability suite (unedited, imported from
$PAHO_SUITE/interoperability, default ./suite next to this file) against Mosquitto or
a Switchyard server.

    git clone https://github.com/eclipse/paho.mqtt.testing contract-tests/paho/suite
    python3 contract-tests/paho/run_paho.py --target mosquitto  --version 3
    python3 contract-tests/paho/run_paho.py --target switchyard --version 5 --server-bin target/debug/switchyard

Adaptation (identical for both targets, applied from outside the suite):
  * every topic lives under a channel prefix  m/<domain>/c/<channel>/ : the module
    globals topics / wildtopics / nosubscribe_topics / topic_prefix / host / port are
    overridden; for v5, setUpClass() calls setData() which would reset the topics, so
    the module's setData is replaced by one that sets the prefixed values;
  * the hard-coded filter "#" used by cleanup()/cleanRetained() is rewritten to
    "<prefix>#" at SUBSCRIBE time (Client.subscribe wrapper), so retained-message
    cleanup works inside the channel (Switchyard refuses a bare "#");
  * Client.connect is wrapped to add username/password: each MQTT client id the suite
    uses ("myclientid", "myclientid2", "clean retained", "") has its own platform client;
  * nosubscribe_topics = m/<domain>/c/<second channel, no connections>/test/nosubscribe;
  * test_dollar_topics and test_maximum_packet_size are not applicable under channel
    topics and are skipped (use --include-na to run them anyway).
Each test runs in its own child process (fresh setUpClass/cleanup) with a timeout.
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.request, urllib.error, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE_DIR = os.path.join(os.environ.get("PAHO_SUITE", os.path.join(HERE, "suite")), "interoperability")
MODULES = {"3": "client_test", "5": "client_test5"}
MQTT_CLIENT_IDS = ["myclientid", "myclientid2", "clean retained", ""]
NOT_APPLICABLE = {
    "test_dollar_topics": "publishes to '$'+topic, which is outside the channel prefix",
    "test_maximum_packet_size": "64-byte client maximum packet size cannot hold a channel topic",
}
BASE_TOPICS = ["TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA"]
BASE_WILD = ["TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#"]


# ---------------------------------------------------------------- child side
def child_main(cfg):
    """Runs one test of the suite in this process and prints a JSON result line."""
    import faulthandler, io, logging, traceback, unittest
    sys.path.insert(0, SUITE_DIR)
    os.chdir(SUITE_DIR)
    # a hang is reported with the stack of the main thread
    faulthandler.dump_traceback_later(cfg["timeout"], exit=True)

    mod = __import__(MODULES[cfg["version"]])
    client_cls = mod.mqtt_client.Client
    prefix = cfg["prefix"]
    topics = [prefix + t for t in BASE_TOPICS]
    wild = [prefix + t for t in BASE_WILD]
    nosub = (cfg["nosub"],)

    def set_globals():
        mod.host, mod.port = cfg["host"], cfg["port"]
        mod.topics, mod.wildtopics, mod.nosubscribe_topics = topics, wild, nosub
        mod.topic_prefix = prefix
    set_globals()
    if hasattr(mod, "setData"):
        mod.setData = set_globals          # v5 setUpClass() calls setData()

    creds = cfg["creds"]
    orig_connect, orig_subscribe = client_cls.connect, client_cls.subscribe

    def connect(self, *a, **kw):
        cid = self.clientid.decode("utf-8") if isinstance(self.clientid, bytes) else self.clientid
        if kw.get("username") is None and cid in creds:
            kw["username"] = creds[cid][0]
            kw["password"] = creds[cid][1].encode("utf-8")
        r = orig_connect(self, *a, **kw)
        if cfg["trace"]:
            logging.debug("connect %r -> %s", cid, r)
        return r

    def subscribe(self, topicfilters, *a, **kw):
        topicfilters = [prefix + "#" if t == "#" else t for t in topicfilters]
        return orig_subscribe(self, topicfilters, *a, **kw)

    client_cls.connect, client_cls.subscribe = connect, subscribe

    if cfg["trace"]:
        # V5 logs packets on the "mqtt-client" logger, V311's receiver on the root logger
        logging.basicConfig(level=logging.DEBUG, datefmt="%H:%M:%S",
                            format="%(asctime)s.%(msecs)03d %(message)s")
        lg = logging.getLogger("mqtt-client")
        lg.setLevel(logging.DEBUG)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True

    # keep what the suite prints on stderr (traceback.print_exc in the tests)
    class Tee(io.TextIOBase):
        def __init__(self, s):
            self.s, self.buf = s, []
        def write(self, x):
            self.buf.append(x)
            return self.s.write(x)
        def flush(self):
            self.s.flush()
    tee = Tee(sys.stderr)
    sys.stderr = tee

    suite = unittest.defaultTestLoader.loadTestsFromName("Test." + cfg["test"], mod)
    result = unittest.TestResult()
    suite.run(result)
    sys.stderr = tee.s

    problems = result.failures + result.errors
    reason = None
    if problems:
        reason = summarize(problems[0][1], "".join(tee.buf), MODULES[cfg["version"]])
        reason = re.sub(r"<mqtt\.formats\.MQTTV5\.MQTTV5\.(\w+) object at 0x[0-9a-f]+>", r"<\1>", reason)
        if len(reason) > 300:
            reason = reason[:300] + "..."
    if result.skipped:
        reason = "skipped: " + result.skipped[0][1]
    print("@@RESULT " + json.dumps({"ok": not problems and result.testsRun > 0, "reason": reason}))
    sys.stdout.flush()
    os._exit(0)   # receiver threads of the suite's clients may still run


TB_HEAD = "Traceback (most recent call last):"


def exc_blocks(text, modname):
    """(location in the test file, innermost frame, exception line) for each traceback
    in text; tracebacks that the logging module prints for its own errors are skipped."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith(TB_HEAD):
            logging_error = i > 0 and lines[i - 1].startswith("--- Logging error ---")
            loc, inner, j = None, None, i + 1
            while j < len(lines) and (lines[j].startswith(" ") or lines[j] == ""):
                m = re.match(r'\s+File "(.*?)", line (\d+), in (\S+)', lines[j])
                if m:
                    inner = "%s:%s" % (os.path.relpath(m.group(1), SUITE_DIR), m.group(2))
                    if m.group(1).endswith(modname + ".py"):
                        loc = "%s.py:%s" % (modname, m.group(2))
                j += 1
            exc = lines[j] if j < len(lines) else "?"
            if not logging_error:
                out.append((loc, inner, exc))
            i = j
        i += 1
    return out


def describe(block):
    loc, inner, exc = block
    where = loc or "?"
    if inner and loc and not inner.endswith(loc) and inner != loc:
        where += " (raised in %s)" % inner
    elif inner and not loc:
        where = inner
    return "%s %s" % (where, exc)


def summarize(unittest_tb, printed, modname):
    blocks = exc_blocks(unittest_tb, modname)
    block = blocks[-1] if blocks else (None, None, unittest_tb.strip().splitlines()[-1])
    generic = block[2].strip() in ("AssertionError: False != True", "AssertionError: True != False")
    printed_blocks = exc_blocks(printed, modname)
    if generic and printed_blocks:
        return describe(printed_blocks[0]) + " (caught; test then asserts succeeded)"
    return describe(block)


# ---------------------------------------------------------------- Switchyard
def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        raise RuntimeError("%s %s -> %d %s" % (method, url, e.code, raw[:300]))


def port_free(hostport):
    h, p = hostport.rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the server's listener does
    try:
        s.bind((h, int(p)))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Switchyard:
    def __init__(self, binary, http_addr, mqtt_addr, log_path, rust_log):
        self.binary, self.http_addr, self.mqtt_addr = binary, http_addr, mqtt_addr
        self.log_path, self.rust_log = log_path, rust_log
        self.base = "http://" + http_addr
        self.password = "Paho-" + uuid.uuid4().hex[:16]
        self.proc = None

    def start(self):
        for a in (self.http_addr, self.mqtt_addr):
            if not port_free(a):
                sys.exit("address %s is in use" % a)
        self.data_dir = tempfile.mkdtemp(prefix="paho-switchyard-")
        env = dict(os.environ)
        env.update({
            "SWITCHYARD_HTTP_ADDR": self.http_addr,
            "SWITCHYARD_MQTT_ADDR": self.mqtt_addr,
            "SWITCHYARD_DATA_DIR": self.data_dir,
            "MG_USERS_ADMIN_PASSWORD": self.password,
            "SWITCHYARD_LOG": self.rust_log,
            "RUST_LOG": self.rust_log,
            "NO_COLOR": "1",
        })
        for k in ("SWITCHYARD_DATABASE_URL", "SWITCHYARD_BUS_URL", "SWITCHYARD_CONFIG_FILE",
                  "SWITCHYARD_EXTRA_HTTP_ADDRS", "SWITCHYARD_MQTTS_ADDR"):
            env.pop(k, None)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.data_dir,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit("switchyard exited with %s, see %s" % (self.proc.returncode, self.log_path))
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2):
                    pass
                s = socket.create_connection(tuple(self._hp(self.mqtt_addr)), timeout=2)
                s.close()
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        sys.exit("switchyard did not become ready, see %s" % self.log_path)

    @staticmethod
    def _hp(a):
        h, p = a.rsplit(":", 1)
        return h, int(p)

    def provision(self):
        b = self.base
        _, t = http("POST", b + "/users/tokens/issue", {"username": "admin", "password": self.password})
        tok = t["access_token"]
        route = "paho-" + uuid.uuid4().hex[:8]
        _, d = http("POST", b + "/domains", {"name": "paho", "route": route}, tok)
        dom = d["id"]
        _, ch = http("POST", "%s/%s/channels" % (b, dom), {"name": "paho"}, tok)
        _, ch2 = http("POST", "%s/%s/channels" % (b, dom), {"name": "paho-nosubscribe"}, tok)
        names = ["paho-" + (c.replace(" ", "-") or "empty-id") for c in MQTT_CLIENT_IDS]
        _, bulk = http("POST", "%s/%s/clients/bulk" % (b, dom), [{"name": n} for n in names], tok)
        by_name = {c["name"]: c for c in bulk["clients"]}
        creds = {}
        for cid, n in zip(MQTT_CLIENT_IDS, names):
            c = by_name[n]
            creds[cid] = [c["id"], c["credentials"]["secret"]]
        http("POST", "%s/%s/channels/connect" % (b, dom),
             {"channel_ids": [ch["id"]], "client_ids": [v[0] for v in creds.values()],
              "types": ["publish", "subscribe"]}, tok)
        return {"prefix": "m/%s/c/%s/" % (dom, ch["id"]),
                "nosub": "m/%s/c/%s/test/nosubscribe" % (dom, ch2["id"]),
                "creds": creds}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(getattr(self, "data_dir", ""), ignore_errors=True)


# ---------------------------------------------------------------- parent side
def list_tests(version):
    import unittest
    sys.path.insert(0, SUITE_DIR)
    mod = __import__(MODULES[version])
    return list(unittest.defaultTestLoader.getTestCaseNames(mod.Test))


def run_one(cfg, log_path):
    env = dict(os.environ, PAHO_CHILD=json.dumps(cfg))
    t0 = time.time()
    with open(log_path, "w") as log:
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env,
                               stdout=subprocess.PIPE, stderr=log, text=True,
                               timeout=cfg["timeout"] + 30)
            out = p.stdout
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    with open(log_path, "a") as log:
        log.write("\n--- stdout ---\n" + out)
    for line in out.splitlines():
        if line.startswith("@@RESULT "):
            r = json.loads(line[9:])
            return r["ok"], r["reason"], time.time() - t0
    # no result: hung (faulthandler dumped the stack) or crashed
    text = open(log_path).read()
    m = re.findall(r'File ".*?(client_test5?\.py)", line (\d+) in (\w+)', text)
    where = (" at %s:%s in %s" % m[0]) if m else ""
    if "Timeout (" in text:
        return False, "timeout after %ds%s (test never finished)" % (cfg["timeout"], where), time.time() - t0
    return False, "child died without result%s" % where, time.time() - t0


def main():
    if "PAHO_CHILD" in os.environ:
        return child_main(json.loads(os.environ["PAHO_CHILD"]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=["mosquitto", "switchyard"], required=True)
    ap.add_argument("--version", choices=["3", "5"], required=True)
    ap.add_argument("--server-bin", default=os.path.join(HERE, "..", "..", "target", "debug", "switchyard"))
    ap.add_argument("--mosquitto", default="127.0.0.1:1883", help="host:port of Mosquitto")
    ap.add_argument("--http-addr", default="127.0.0.1:19080")
    ap.add_argument("--mqtt-addr", default="127.0.0.1:11883")
    ap.add_argument("--rust-log", default="info,switchyard_adapter_mqtt=debug")
    ap.add_argument("--tests", help="comma-separated test names (default: all)")
    ap.add_argument("--include-na", action="store_true", help="also run the not-applicable tests")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per test")
    ap.add_argument("--trace", action="store_true", help="log every MQTT packet in the per-test logs")
    ap.add_argument("--log-dir", default=os.path.join(HERE, "logs"))
    ap.add_argument("--json", help="write results to this file")
    a = ap.parse_args()

    names = list_tests(a.version)
    if a.tests:
        want = a.tests.split(",")
        names = [n for n in names if n in want]
    run_dir = os.path.join(a.log_dir, "%s-v%s" % (a.target, a.version))
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)

    server = None
    try:
        if a.target == "switchyard":
            if not os.access(a.server_bin, os.X_OK):
                sys.exit("no server binary at %s" % a.server_bin)
            server = Switchyard(a.server_bin, a.http_addr, a.mqtt_addr,
                                os.path.join(run_dir, "switchyard.log"), a.rust_log)
            server.start()
            prov = server.provision()
            host, port = server._hp(a.mqtt_addr)
        else:
            host, port = a.mosquitto.rsplit(":", 1)
            port = int(port)
            tag = uuid.uuid4().hex[:8]     # a fresh "domain" per run keeps retained state apart
            prov = {"prefix": "m/paho-%s/c/paho-channel/" % tag,
                    "nosub": "m/paho-%s/c/paho-nosubscribe/test/nosubscribe" % tag,
                    "creds": {c: ["paho-" + (c.replace(" ", "-") or "empty-id"), "secret"]
                              for c in MQTT_CLIENT_IDS}}
        print("target %s  MQTT %s:%d  version %s  prefix %s" % (a.target, host, port, a.version, prov["prefix"]))
        print("per-test logs in %s" % run_dir)
        sys.stdout.flush()
        results = []
        for n in names:
            if n in NOT_APPLICABLE and not a.include_na:
                results.append((n, "N/A", NOT_APPLICABLE[n]))
                print("N/A  %s: %s" % (n, NOT_APPLICABLE[n]))
                sys.stdout.flush()
                continue
            cfg = dict(prov, version=a.version, host=host, port=port, test=n,
                       timeout=a.timeout, trace=a.trace)
            ok, reason, dt = run_one(cfg, os.path.join(run_dir, n + ".log"))
            results.append((n, "PASS" if ok else "FAIL", reason))
            print(("PASS %s (%.0fs)" % (n, dt)) if ok else ("FAIL %s: %s" % (n, reason)))
            sys.stdout.flush()
    finally:
        if server:
            server.stop()
    counts = {k: sum(1 for r in results if r[1] == k) for k in ("PASS", "FAIL", "N/A")}
    print("TOTAL %d: %d passed, %d failed, %d not applicable" %
          (len(results), counts["PASS"], counts["FAIL"], counts["N/A"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"target": a.target, "version": a.version,
                       "results": [{"test": n, "status": s, "reason": r} for n, s, r in results]}, f, indent=1)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
