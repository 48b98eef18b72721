import { builder } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { Company } from "./company.ts";

export const Booking = builder.prismaNode("Booking", {
  id: { field: "id" },
  authScopes: (booking, ctx) => canSeeCompany(ctx.principal, booking.companyId),
  fields: (t) => ({
    uid: t.exposeString("uid"),
    calcomBookingId: t.exposeInt("calcomBookingId", { nullable: true }),
    service: t.relation("service", { nullable: true }),
    status: t.exposeString("status"),
    title: t.exposeString("title", { nullable: true }),
    startTime: t.expose("startTime", { type: "DateTime" }),
    endTime: t.expose("endTime", { type: "DateTime" }),
    rescheduledFromUid: t.exposeString("rescheduledFromUid", { nullable: true }),
    cancelledAt: t.expose("cancelledAt", { type: "DateTime", nullable: true }),
    paidAt: t.expose("paidAt", { type: "DateTime", nullable: true, description: "When the booking was paid (BOOKING_PAID)." }),
    meetingStartedAt: t.expose("meetingStartedAt", {
      type: "DateTime",
      nullable: true,
      description: "When MEETING_STARTED was sent (for legacy deliveries: when it was received).",
    }),
    meetingEndedAt: t.expose("meetingEndedAt", {
      type: "DateTime",
      nullable: true,
      description: "When MEETING_ENDED was sent (for legacy deliveries: when it was received). Cal.com sends it at the scheduled end.",
    }),
    noShowAttendees: t.exposeInt("noShowAttendees", {
      nullable: true,
      description: "Attendees marked as no-show by the latest BOOKING_NO_SHOW_UPDATED.",
    }),
  }),
});

builder.prismaObjectField(Company, "bookings", (t) =>
  t.relatedConnection("bookings", {
    cursor: "id",
    totalCount: true,
    args: {
      from: t.arg({ type: "DateTime", description: "Bookings starting at or after this instant." }),
      to: t.arg({ type: "DateTime", description: "Bookings starting before this instant." }),
    },
    query: (args) => ({
      where: {
        startTime: {
          ...(args.from ? { gte: args.from } : {}),
          ...(args.to ? { lt: args.to } : {}),
        },
      },
      orderBy: [{ startTime: "asc" }, { id: "asc" }],
    }),
  }, { name: "BookingConnection" }, { name: "BookingEdge" }),
);
