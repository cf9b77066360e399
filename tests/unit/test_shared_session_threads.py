"""k8s_bluegreen's ``apps`` runs many releases in threads sharing one client (Kube over one
transport.ApiSession, whose keep-alive connections are pooled). Shared, every request must
still get its own answer: many threads, many requests each, against a local keep-alive HTTP
server on 127.0.0.1 that answers each request with its own path, and every answer checked."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Kube
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.kubeconfig import Endpoint
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.transport import ApiSession


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections go back to the session's pool

    def do_GET(self):
        body = json.dumps({"path": self.path, "thread": threading.get_ident()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_threads_sharing_one_session_each_get_their_own_answers():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        session = ApiSession(Endpoint("http://127.0.0.1:%d" % server.server_address[1]),
                             environ={})
        kube = Kube(session)

        def app(index):
            wrong = []
            for step in range(10):
                path = "/apps/%d/step/%d" % (index, step)
                answer = kube.request("GET", path)
                if answer["path"] != path:
                    wrong.append((path, answer["path"]))
            return wrong

        with ThreadPoolExecutor(max_workers=20) as pool:
            wrong = [w for found in pool.map(app, range(30)) for w in found]
        assert wrong == []
        # connections were reused, not one per request: the pool holds at most one per thread
        assert 0 < len(session._idle) <= 20
        session.close()
    finally:
        server.shutdown()
        server.server_close()
