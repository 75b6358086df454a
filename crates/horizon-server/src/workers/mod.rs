//! The workers inside `horizon serve`: the dispatcher hands SUBMITTED jobs to
//! their backend; one watcher per backend turns what the backend reports into
//! transitions. Both read their work from the store, so a restarted server
//! picks up exactly where the last one stopped.

pub mod dependencies;
pub mod dispatcher;
pub mod retention;
pub mod watcher;
