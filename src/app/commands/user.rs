//! `reelcache user create|set-admin|list`.

use super::*;

/// `reelcache user ...`: opens only the account database the settings name (SQLite in the data
/// directory, or PostgreSQL), so it is safe while servers run on it (the database serialises
/// the writers).
pub async fn run_user(
    settings: &Settings,
    command: &crate::app::cli::UserCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::UserCommand;
    let db = crate::app::open::open_accounts(settings)
        .await
        .map_err(|e| CommandError::runtime(e.to_string()))?;
    let db_error = |e: crate::db::DbError| CommandError::runtime(e.to_string());
    match command {
        UserCommand::Create {
            username,
            admin,
            email,
            password_stdin: _,
        } => {
            let username = crate::domain::account::username(Some(username))
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let email = crate::domain::account::email(email.as_deref())
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CommandError::runtime(format!("cannot read the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            let password = crate::domain::account::password(Some(password))
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let hash = crate::service::auth::password::hash(&password);
            let user = db
                .insert_user(username.clone(), email, hash, *admin, crate::db::now_ms())
                .await
                .map_err(|e| {
                    if e.is_unique_violation() {
                        CommandError::usage(format!("a user named '{username}' already exists"))
                    } else {
                        db_error(e)
                    }
                })?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if user.is_staff { ", staff" } else { "" }
            );
        }
        UserCommand::SetAdmin { username, revoke } => {
            let found = db
                .set_staff(username.clone(), !revoke)
                .await
                .map_err(db_error)?;
            if !found {
                return Err(CommandError::runtime(format!("no user named '{username}'")));
            }
            println!(
                "{username} is {}",
                if *revoke {
                    "no longer staff"
                } else {
                    "now staff"
                }
            );
        }
        UserCommand::List => {
            let all = db.list_users().await.map_err(db_error)?;
            println!(
                "{:>6}  {:<24} {:<32} {:<6} {:<6} joined",
                "id", "username", "email", "staff", "active"
            );
            for u in all {
                println!(
                    "{:>6}  {:<24} {:<32} {:<6} {:<6} {}",
                    u.id,
                    u.username,
                    u.email,
                    u.is_staff,
                    u.is_active,
                    crate::db::rfc3339(u.date_joined)
                );
            }
        }
    }
    Ok(())
}
