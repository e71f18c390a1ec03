//! MQTT over WebSocket at `/mqtt` on the HTTP listener: binary WebSocket frames carry
//! the MQTT byte stream (subprotocol `mqtt`), served by the same MQTT adapter as TCP.

use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::Method,
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use switchyard_adapter_mqtt::MqttAdapter;
use switchyard_http_api::{Api, AppState, Auth, doc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn routes(adapter: MqttAdapter) -> impl FnOnce(Api) -> Api {
    move |a: Api| {
        let handler = move |state: State<AppState>, up: WebSocketUpgrade| {
            let adapter = adapter.clone();
            async move { upgrade(state, up, adapter) }
        };
        a.route(
            Method::GET,
            "/mqtt",
            // Public at the HTTP layer: the MQTT CONNECT inside authenticates.
            doc("messages", "MQTT over WebSocket (subprotocol mqtt)")
                .websocket()
                .auth(Auth::Public),
            handler,
        )
    }
}

fn upgrade(_: State<AppState>, up: WebSocketUpgrade, adapter: MqttAdapter) -> Response {
    up.protocols(["mqtt", "mqttv3.1"])
        .on_upgrade(move |ws| bridge(ws, adapter))
        .into_response()
}

/// Pumps WebSocket frames to and from an in-memory byte pipe the MQTT session reads.
async fn bridge(ws: WebSocket, adapter: MqttAdapter) {
    let (mqtt_side, ws_side) = tokio::io::duplex(64 * 1024);
    let session = tokio::spawn(async move { adapter.handle(mqtt_side).await });
    let (mut rd, mut wr) = tokio::io::split(ws_side);
    let (mut tx, mut rx) = ws.split();
    let inbound = async {
        while let Some(Ok(m)) = rx.next().await {
            let bytes = match m {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Message::Close(None)).await;
    };
    // The session ends when the client's stream ends (EOF after `inbound`), or when it
    // closes the connection itself; either way `outbound` then finishes.
    tokio::select! {
        _ = outbound => {}
        _ = async {
            inbound.await;
            std::future::pending::<()>().await
        } => {}
    }
    session.abort();
}
