//! The lesson panel: the step's caption, progress, and Back / Next.

use bevy_egui::egui;

use crate::app::lesson::LessonPlayer;
use crate::app::messages::LessonControl;

/// Draws `text` with the lesson's light markup: blank lines between
/// paragraphs, `- ` bullets and `**bold**`.
pub(crate) fn markup_ui(ui: &mut egui::Ui, text: &str, size: f32) {
    for paragraph in text.split("\n\n") {
        for line in paragraph.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (bullet, body) = match line.strip_prefix("- ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                if bullet {
                    ui.label(egui::RichText::new("  • ").size(size));
                }
                for (i, part) in body.split("**").enumerate() {
                    if part.is_empty() {
                        continue;
                    }
                    let rich = egui::RichText::new(part).size(size);
                    // Odd parts sit between a pair of `**`.
                    ui.label(if i % 2 == 1 { rich.strong() } else { rich });
                }
            });
        }
        ui.add_space(size * 0.4);
    }
}

/// Draws the lesson panel; returns what the user pressed.
pub(crate) fn lesson_ui(ui: &mut egui::Ui, player: &LessonPlayer) -> Option<LessonControl> {
    let steps = player.lesson.steps.len();
    let mut pressed = None;
    ui.horizontal(|ui| {
        ui.strong(format!(
            "Lesson · {} of {steps}",
            player.progress.viewing.map_or(0, |v| v + 1)
        ));
        if let Some((_, step)) = player.current()
            && !step.title.is_empty()
        {
            ui.separator();
            ui.strong(&step.title);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let next_label = if player.progress.waiting {
                "Continue ▶"
            } else {
                "Next ▶"
            };
            let can_next = player.progress.reached < steps
                || player.progress.waiting
                || player
                    .progress
                    .viewing
                    .is_some_and(|v| v + 1 < player.progress.reached);
            if ui
                .add_enabled(can_next, egui::Button::new(next_label))
                .clicked()
            {
                pressed = Some(LessonControl::Next);
            }
            let can_back = player.progress.viewing.is_some_and(|v| v > 0);
            if ui
                .add_enabled(can_back, egui::Button::new("◀ Back"))
                .clicked()
            {
                pressed = Some(LessonControl::Back);
            }
        });
    });
    match player.current() {
        Some((_, step)) => markup_ui(ui, &step.caption, 15.0),
        None => {
            ui.label("The lesson starts with training.");
        }
    }
    let status = if player.progress.waiting {
        Some("Training is paused for you: press Continue when ready.".to_string())
    } else {
        player
            .lesson
            .steps
            .get(player.progress.reached)
            .map(|next| format!("Next step {}.", next.trigger.describe()))
    };
    if let Some(status) = status {
        ui.small(status);
    }
    pressed
}
