//! Dashboard sessions, kept by the sha256 of their cookie's value: a
//! session stands for the token it was opened with (the dashboard asks
//! [`super::Tokens`] whether that token still holds).

use super::{App, AppError};
use crate::store::UiSession;

impl App {
    /// The live session whose key is `id_sha256`, if there is one.
    pub async fn session(&self, id_sha256: &str) -> Result<Option<UiSession>, AppError> {
        Ok(self.dashboard_store()?.session(id_sha256).await?)
    }

    pub async fn create_session(&self, id_sha256: &str, session: &UiSession) -> Result<(), AppError> {
        Ok(self.dashboard_store()?.create_session(id_sha256, session).await?)
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), AppError> {
        Ok(self.dashboard_store()?.delete_session(id_sha256).await?)
    }
}
