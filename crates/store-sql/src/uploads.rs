//! In-progress blob uploads (the bytes are the blob store's).

use async_trait::async_trait;
use berth_store::{StoreResult, UploadRecord, UploadStore};

use crate::engine::{Row, query};
use crate::{SqlStore, found, parse_repository};

const UPLOAD_COLUMNS: &str = "id, repository, created_at, last_part_size, small_part_seen";

fn upload_from_row(row: &Row) -> StoreResult<UploadRecord> {
    Ok(UploadRecord {
        id: row.get("id")?,
        repository: parse_repository(&row.get::<String>("repository")?)?,
        created_at: row.get("created_at")?,
        last_part_size: row.get("last_part_size")?,
        small_part_seen: row.get("small_part_seen")?,
    })
}

#[async_trait]
impl UploadStore for SqlStore {
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        query(&format!(
            "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&upload.id)
        .bind(upload.repository.as_str())
        .bind(upload.created_at)
        .bind(upload.last_part_size)
        .bind(upload.small_part_seen)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> StoreResult<Option<UploadRecord>> {
        query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .record(self.db.reader(), upload_from_row)
        .await
    }

    async fn update_upload_parts(
        &self,
        id: &str,
        last_part_size: i64,
        small_part_seen: bool,
    ) -> StoreResult<()> {
        found(
            query("UPDATE uploads SET last_part_size = $1, small_part_seen = $2 WHERE id = $3")
                .bind(last_part_size)
                .bind(small_part_seen)
                .bind(id)
                .execute(self.db.writer())
                .await?,
        )
    }

    async fn delete_upload(&self, id: &str) -> StoreResult<()> {
        query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    async fn list_uploads_created_before(&self, before: i64) -> StoreResult<Vec<UploadRecord>> {
        query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE created_at < $1 ORDER BY created_at"
        ))
        .bind(before)
        .records(self.db.reader(), upload_from_row)
        .await
    }
}
