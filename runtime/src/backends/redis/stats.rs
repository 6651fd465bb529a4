//! [`QueueStats`] on Redis: what the API shows of the queue (its depth,
//! the live workers) and which runs a worker holds now. Reads only.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::{HELD, RedisBackend};
use crate::contract::BackendError;
use crate::contract::job::Band;
use crate::contract::queue::QueueStats;

#[async_trait]
impl QueueStats for RedisBackend {
    async fn held(&self, execution_ids: &[Uuid]) -> Result<Vec<bool>, BackendError> {
        let mut out = Vec::with_capacity(execution_ids.len());
        for chunk in execution_ids.chunks(500) {
            let mut call = HELD.arg(&*self.prefix);
            for id in chunk {
                call.arg(id.to_string());
            }
            let held: Vec<i64> = call.invoke_async(&mut self.conn.clone()).await?;
            out.extend(held.into_iter().map(|h| h == 1));
        }
        Ok(out)
    }

    async fn live_workers(&self) -> Result<Vec<String>, BackendError> {
        let now = Utc::now().timestamp_millis();
        let workers = self.key("workers");
        let (_, mut names): ((), Vec<String>) = redis::pipe()
            .zrembyscore(&workers, "-inf", now - 1)
            .zrangebyscore(&workers, now, "+inf")
            .query_async(&mut self.conn.clone())
            .await?;
        names.sort();
        Ok(names)
    }

    async fn depth(&self) -> Result<u64, BackendError> {
        let mut pipe = redis::pipe();
        for band in Band::ALL {
            pipe.xlen(self.stream(band));
        }
        let lens: Vec<u64> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(lens.iter().sum())
    }
}
