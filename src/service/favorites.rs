//! `FavoriteService`: a user's favorites, always read from the account database (never cached), and the
//! profile cache invalidated whenever they change.

use crate::db::now_ms;
use crate::domain::favorite::{Favorite, NewFavorite};
use crate::error::ApiError;
use crate::service::accounts::{AccountService, AuthUser};

#[derive(Clone)]
pub struct FavoriteService {
    accounts: AccountService,
}

impl FavoriteService {
    pub fn new(accounts: AccountService) -> FavoriteService {
        FavoriteService { accounts }
    }

    /// Adds a favorite; `true` when it was created, `false` when it already existed.
    pub async fn add(
        &self,
        user: &AuthUser,
        new: NewFavorite,
    ) -> Result<(Favorite, bool), ApiError> {
        let user_id = user.id;
        let (favorite, created) = self
            .accounts
            .db()
            .add_favorite(user_id, new, now_ms())
            .await?;
        if created {
            self.accounts.invalidate_profile(user_id).await;
        }
        Ok((favorite, created))
    }

    /// Removes one of the user's favorites; another user's or an unknown id is a 404.
    pub async fn remove(&self, user: &AuthUser, id: i64) -> Result<(), ApiError> {
        let user_id = user.id;
        let removed = self.accounts.db().remove_favorite(user_id, id).await?;
        if !removed {
            return Err(ApiError::NotFound("Favorite not found".to_owned()));
        }
        self.accounts.invalidate_profile(user_id).await;
        Ok(())
    }

    pub async fn check(&self, user: &AuthUser, tmdb_id: i64) -> Result<Option<Favorite>, ApiError> {
        let user_id = user.id;
        Ok(self
            .accounts
            .db()
            .favorite_by_tmdb_id(user_id, tmdb_id)
            .await?)
    }

    /// Page `page` (from 1) of `page_size`, newest first, and the total. A page past the end is a
    /// 404 (page 1 of nothing is an empty page).
    pub async fn page(
        &self,
        user: &AuthUser,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<Favorite>, i64), ApiError> {
        let user_id = user.id;
        let offset = i64::from(page - 1) * i64::from(page_size);
        let (rows, total) = self
            .accounts
            .db()
            .favorites_page(user_id, offset, i64::from(page_size))
            .await?;
        if rows.is_empty() && page > 1 {
            return Err(ApiError::NotFound(
                "Invalid page: past the last page".to_owned(),
            ));
        }
        Ok((rows, total))
    }
}
