//! Connections: connect/disconnect report what changed, connection filters on lists,
//! cascading deletes.

use switchyard_domain::{Channel, Client, Connection, ConnectionType, EntityQuery, Page};
use switchyard_store::Store;
use uuid::Uuid;

use crate::fixtures::{assert_not_found, channel, client, domain, entity_query, page};

const PUB: ConnectionType = ConnectionType::Publish;
const SUB: ConnectionType = ConnectionType::Subscribe;

fn conn(ch: &Channel, cl: &Client, kind: ConnectionType) -> Connection {
    Connection {
        channel_id: ch.id,
        client_id: cl.id,
        kind,
    }
}

fn sorted(mut v: Vec<Connection>) -> Vec<Connection> {
    v.sort();
    v
}

pub async fn connect_and_disconnect(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "conn");
    s.create_domain(&d).await.unwrap();
    let chs: Vec<Channel> = (0..2).map(|i| channel(&d, &format!("ch{i}"))).collect();
    let cls: Vec<Client> = (0..2).map(|i| client(&d, &format!("cl{i}"))).collect();
    s.create_channels(&chs).await.unwrap();
    s.create_clients(&cls).await.unwrap();

    let first = vec![conn(&chs[0], &cls[0], PUB), conn(&chs[0], &cls[0], SUB)];
    let added = s.connect(d.id, &first).await.unwrap();
    assert_eq!(sorted(added), sorted(first.clone()));

    // Idempotent: only the new ones are reported.
    let second = vec![
        conn(&chs[0], &cls[0], PUB),
        conn(&chs[1], &cls[0], PUB),
        conn(&chs[0], &cls[1], SUB),
    ];
    let added = s.connect(d.id, &second).await.unwrap();
    assert_eq!(
        sorted(added),
        sorted(vec![
            conn(&chs[1], &cls[0], PUB),
            conn(&chs[0], &cls[1], SUB)
        ])
    );
    assert!(s.connect(d.id, &second).await.unwrap().is_empty());
    assert!(s.connect(d.id, &[]).await.unwrap().is_empty());

    assert_eq!(
        sorted(s.client_connections(cls[0].id).await.unwrap()),
        sorted(vec![
            conn(&chs[0], &cls[0], PUB),
            conn(&chs[0], &cls[0], SUB),
            conn(&chs[1], &cls[0], PUB),
        ])
    );
    assert!(
        s.client_connections(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );

    // Disconnect reports what it removed, and nothing twice.
    let gone = vec![
        conn(&chs[0], &cls[0], SUB),
        conn(&chs[1], &cls[1], PUB), // never existed
    ];
    let removed = s.disconnect(d.id, &gone).await.unwrap();
    assert_eq!(removed, vec![conn(&chs[0], &cls[0], SUB)]);
    assert!(s.disconnect(d.id, &gone).await.unwrap().is_empty());
    assert!(s.disconnect(d.id, &[]).await.unwrap().is_empty());
    // Another domain's disconnect touches nothing here.
    assert!(
        s.disconnect(Uuid::new_v4(), &[conn(&chs[0], &cls[0], PUB)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        sorted(s.client_connections(cls[0].id).await.unwrap()),
        sorted(vec![
            conn(&chs[0], &cls[0], PUB),
            conn(&chs[1], &cls[0], PUB)
        ])
    );

    // Connecting to something that does not exist fails and adds nothing.
    let bad = vec![
        conn(&chs[1], &cls[1], PUB),
        Connection {
            channel_id: Uuid::new_v4(),
            client_id: cls[1].id,
            kind: PUB,
        },
    ];
    assert!(s.connect(d.id, &bad).await.is_err());
    assert_eq!(
        s.client_connections(cls[1].id).await.unwrap(),
        vec![conn(&chs[0], &cls[1], SUB)]
    );

    // A batch of many connections, more than one statement's worth.
    let many_clients: Vec<Client> = (0..40).map(|i| client(&d, &format!("m{i}"))).collect();
    let many_channels: Vec<Channel> = (0..250).map(|i| channel(&d, &format!("m{i}"))).collect();
    s.create_clients(&many_clients).await.unwrap();
    s.create_channels(&many_channels).await.unwrap();
    let all: Vec<Connection> = many_clients
        .iter()
        .flat_map(|cl| many_channels.iter().map(move |ch| conn(ch, cl, PUB)))
        .collect();
    assert_eq!(all.len(), 10_000);
    assert_eq!(s.connect(d.id, &all).await.unwrap().len(), all.len());
    assert_eq!(s.disconnect(d.id, &all).await.unwrap().len(), all.len());
    assert!(
        s.client_connections(many_clients[0].id)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn delete_removes_connections(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "cascade");
    s.create_domain(&d).await.unwrap();
    let chs: Vec<Channel> = (0..2).map(|i| channel(&d, &format!("ch{i}"))).collect();
    let cls: Vec<Client> = (0..2).map(|i| client(&d, &format!("cl{i}"))).collect();
    s.create_channels(&chs).await.unwrap();
    s.create_clients(&cls).await.unwrap();
    let all: Vec<Connection> = chs
        .iter()
        .flat_map(|ch| cls.iter().map(move |cl| conn(ch, cl, PUB)))
        .collect();
    s.connect(d.id, &all).await.unwrap();

    s.delete_client(d.id, cls[0].id).await.unwrap();
    assert!(s.client_connections(cls[0].id).await.unwrap().is_empty());
    assert_eq!(
        sorted(s.client_connections(cls[1].id).await.unwrap()),
        sorted(vec![
            conn(&chs[0], &cls[1], PUB),
            conn(&chs[1], &cls[1], PUB)
        ])
    );

    s.delete_channel(d.id, chs[0].id).await.unwrap();
    assert_eq!(
        s.client_connections(cls[1].id).await.unwrap(),
        vec![conn(&chs[1], &cls[1], PUB)]
    );
    let mut q = entity_query(page());
    q.client = Some(cls[1].id);
    let p = s.list_channels(d.id, &q).await.unwrap();
    assert_eq!(
        p.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [chs[1].id]
    );
    assert_not_found(s.channel(d.id, chs[0].id).await);

    // The ids can be reused: nothing of the old connections comes back.
    let again = Client {
        id: cls[0].id,
        ..client(&d, "again")
    };
    s.create_clients(&[again]).await.unwrap();
    assert!(s.client_connections(cls[0].id).await.unwrap().is_empty());
}

fn client_names(p: &Page<Client>) -> Vec<&str> {
    p.items.iter().map(|c| c.name.as_str()).collect()
}

fn channel_names(p: &Page<Channel>) -> Vec<&str> {
    p.items.iter().map(|c| c.name.as_str()).collect()
}

pub async fn list_by_connection(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "bycon");
    s.create_domain(&d).await.unwrap();
    let chs: Vec<Channel> = (0..3).map(|i| channel(&d, &format!("ch{i}"))).collect();
    let cls: Vec<Client> = (0..3).map(|i| client(&d, &format!("cl{i}"))).collect();
    s.create_channels(&chs).await.unwrap();
    s.create_clients(&cls).await.unwrap();
    s.connect(
        d.id,
        &[
            conn(&chs[0], &cls[0], PUB),
            conn(&chs[0], &cls[0], SUB),
            conn(&chs[0], &cls[1], SUB),
            conn(&chs[1], &cls[0], PUB),
        ],
    )
    .await
    .unwrap();

    let order = |mut q: EntityQuery| {
        q.page.order = switchyard_domain::Order::Name;
        q.page.dir = switchyard_domain::Dir::Asc;
        q
    };
    let clients = |channel: Uuid, kind: Option<ConnectionType>| {
        let mut q = order(entity_query(page()));
        q.channel = Some(channel);
        q.connection_type = kind;
        async move { s.list_clients(d.id, &q).await.unwrap() }
    };
    let channels = |client: Uuid, kind: Option<ConnectionType>| {
        let mut q = order(entity_query(page()));
        q.client = Some(client);
        q.connection_type = kind;
        async move { s.list_channels(d.id, &q).await.unwrap() }
    };

    // A client connected twice (publish and subscribe) is listed once.
    let p = clients(chs[0].id, None).await;
    assert_eq!((p.total, client_names(&p)), (2, vec!["cl0", "cl1"]));
    assert_eq!(client_names(&clients(chs[0].id, Some(PUB)).await), ["cl0"]);
    assert_eq!(
        client_names(&clients(chs[0].id, Some(SUB)).await),
        ["cl0", "cl1"]
    );
    assert_eq!(
        client_names(&clients(chs[1].id, Some(SUB)).await),
        Vec::<&str>::new()
    );
    assert_eq!(clients(chs[2].id, None).await.total, 0);

    let p = channels(cls[0].id, None).await;
    assert_eq!((p.total, channel_names(&p)), (2, vec!["ch0", "ch1"]));
    assert_eq!(
        channel_names(&channels(cls[0].id, Some(PUB)).await),
        ["ch0", "ch1"]
    );
    assert_eq!(
        channel_names(&channels(cls[0].id, Some(SUB)).await),
        ["ch0"]
    );
    assert_eq!(channel_names(&channels(cls[1].id, None).await), ["ch0"]);
    assert_eq!(channels(cls[2].id, None).await.total, 0);

    // Connection filters combine with the others.
    let mut q = order(entity_query(page()));
    q.channel = Some(chs[0].id);
    q.page.name = Some("1".into());
    assert_eq!(
        client_names(&s.list_clients(d.id, &q).await.unwrap()),
        ["cl1"]
    );
}
