// The migrations are embedded at compile time (`sqlx::migrate!`): a new or changed
// file under migrations/ must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
